"""Check every pinned version against stored vulnerability advisories (`make audit`), offline.

    python .ci/audit.py check [--advisories DIR] [--strict] [REQUIREMENTS ...]
    python .ci/audit.py refresh [--from ZIP_OR_DIR] [--advisories DIR]

``check`` reads the ``name==version`` pins of requirements.txt and requirements-dev.txt (following
``-r``) and the OSV records (https://ossf.github.io/osv-schema/) in ``.ci/advisories/*.json``, and
fails (exit 1) when a pinned version is affected: listed in ``versions`` or inside an ECOSYSTEM
range of ``introduced`` / ``fixed`` / ``last_affected`` events. It needs no network. It also says
how fresh the stored data is (``.ci/advisories/SOURCE.json``) and which pins the last refresh did
not look up; with ``--strict`` those fail too.

``refresh`` (`make audit-refresh`) needs network access: it downloads OSV's export of every PyPI
advisory (``all.zip``, PYSEC, GHSA and others, with exact ranges) or reads one given with
``--from`` (the zip, or a folder of OSV JSON files), and keeps the records that concern a pinned
package, every version of it, so a later change of pin is checked without a new download.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import sys
import urllib.request
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parent.parent
ADVISORIES = ROOT / ".ci" / "advisories"
REQUIREMENTS = [ROOT / "requirements.txt", ROOT / "requirements-dev.txt"]
OSV_EXPORT = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
SOURCE_FILE = "SOURCE.json"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


# --- pins -----------------------------------------------------------------------------------------

def read_pins(paths: Iterable[Path]) -> dict[str, tuple[str, str, str]]:
    """canonical name -> (name as written, version, file:line), following ``-r`` includes."""
    pins: dict[str, tuple[str, str, str]] = {}
    seen: set[Path] = set()

    def read(path: Path) -> None:
        path = path.resolve()
        if path in seen:
            return
        seen.add(path)
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith(("-r ", "--requirement ")):
                read(path.parent / line.split(None, 1)[1])
                continue
            match = _PIN.match(line)
            if match is None:
                raise SystemExit(f"{path.name}:{number}: not a pin (name==version): {raw.strip()}")
            pins[canonicalize_name(match.group(1))] = (match.group(1), match.group(2), f"{path.name}:{number}")

    for path in paths:
        read(Path(path))
    return pins


# --- OSV records ----------------------------------------------------------------------------------

def load_records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json")) if p.name != SOURCE_FILE]


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV's rule for one ECOSYSTEM range: walk the events in version order; ``introduced`` opens,
    ``fixed`` closes at that version, ``last_affected`` closes after it."""
    ordered = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                at = Version("0") if event[kind] == "0" else _version(event[kind])
                if at is not None:
                    ordered.append((at, kind))
    # At one version, "introduced" is applied before "fixed" (OSV sorts that way too).
    ordered.sort(key=lambda e: (e[0], e[1] != "introduced"))
    affected = False
    for at, kind in ordered:
        if kind == "introduced":
            if version < at:
                break
            affected = True
        elif kind == "fixed":
            if version < at:
                break
            affected = False
        elif kind == "last_affected":
            if version <= at:
                break
            affected = False
    return affected


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    if record.get("withdrawn"):
        return False
    parsed = _version(version)
    for entry in record.get("affected", []):
        package = entry.get("package", {})
        if package.get("ecosystem") != "PyPI" or canonicalize_name(package.get("name", "")) != name:
            continue
        if version in entry.get("versions", []):
            return True
        if parsed is None:
            continue
        for rng in entry.get("ranges", []):
            if rng.get("type") in ("ECOSYSTEM", "SEMVER") and in_range(parsed, rng.get("events", [])):
                return True
    return False


def fixed_versions(record: dict[str, Any], name: str) -> list[str]:
    out = []
    for entry in record.get("affected", []):
        if canonicalize_name(entry.get("package", {}).get("name", "")) == name:
            for rng in entry.get("ranges", []):
                out += [e["fixed"] for e in rng.get("events", []) if "fixed" in e and rng.get("type") != "GIT"]
    return out


def check(requirement_files: list[Path], folder: Path, strict: bool = False, out=sys.stdout) -> int:
    pins = read_pins(requirement_files)
    records = load_records(folder)
    source_path = folder / SOURCE_FILE
    source = json.loads(source_path.read_text()) if source_path.exists() else {}
    found = []
    for name, (written, version, where) in sorted(pins.items()):
        for record in records:
            if affects(record, name, version):
                found.append((written, version, where, record))
    covered = {canonicalize_name(n) for n in source.get("packages", [])}
    unchecked = sorted(pins[n][0] for n in pins if n not in covered)
    print(f"audit: {len(pins)} pins against {len(records)} stored advisories "
          f"({source.get('source', 'unknown source')}; as of {source.get('as_of', 'unknown')})", file=out)
    if unchecked:
        which = "none of the pins was" if len(unchecked) == len(pins) else f"{', '.join(unchecked)}: not"
        print(f"audit: {which} looked up by a refresh; the stored data may miss advisories for them "
              f"(run `make audit-refresh` where {OSV_EXPORT.split('/')[2]} is reachable)", file=out)
    for written, version, where, record in found:
        aliases = ", ".join(record.get("aliases", []))
        fixed = ", ".join(fixed_versions(record, canonicalize_name(written))) or "no fixed version"
        summary = (record.get("summary") or record.get("details") or "").strip().splitlines()[0][:160]
        print(f"VULNERABLE {written}=={version} ({where}): {record['id']}"
              f"{f' ({aliases})' if aliases else ''}; fixed in {fixed}. {summary}", file=out)
    if found:
        print(f"audit FAILED: {len(found)} known vulnerabilities in pinned versions", file=out)
        return 1
    if strict and unchecked:
        print("audit FAILED (--strict): some pins were never looked up", file=out)
        return 1
    print("audit: no pinned version is inside a stored vulnerable range", file=out)
    return 0


# --- refresh --------------------------------------------------------------------------------------

def _export_records(source: str) -> Iterator[dict[str, Any]]:
    path = Path(source)
    if path.is_dir():
        for item in sorted(path.rglob("*.json")):
            yield json.loads(item.read_text())
        return
    if path.is_file():
        data = path.read_bytes()
    else:  # a URL: the one download this script makes
        with urllib.request.urlopen(source, timeout=120) as response:
            data = response.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for member in archive.namelist():
            if member.endswith(".json"):
                yield json.loads(archive.read(member))


def refresh(requirement_files: list[Path], folder: Path, source: str = OSV_EXPORT, now: datetime | None = None,
            out=sys.stdout) -> int:
    pins = read_pins(requirement_files)
    kept = []
    for record in _export_records(source):
        names = {canonicalize_name(a.get("package", {}).get("name", "")) for a in record.get("affected", [])
                 if a.get("package", {}).get("ecosystem") == "PyPI"}
        if names & pins.keys():
            kept.append(record)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    for record in kept:
        (folder / f"{record['id']}.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    newest = max((r.get("modified", "") for r in kept), default="")
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d")
    (folder / SOURCE_FILE).write_text(json.dumps({
        "source": f"OSV export {source}" if not Path(source).exists() else f"OSV records from {Path(source).name}",
        "as_of": f"{stamp} (refreshed; newest record modified {newest or 'n/a'})",
        "complete": True,
        "packages": sorted(pins),
    }, indent=1) + "\n")
    print(f"audit-refresh: kept {len(kept)} advisories for {len(pins)} pinned packages in {folder}", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("check", "refresh"))
    parser.add_argument("requirements", nargs="*", type=Path, default=REQUIREMENTS)
    parser.add_argument("--advisories", type=Path, default=ADVISORIES)
    parser.add_argument("--strict", action="store_true", help="also fail on pins the stored data never looked up")
    parser.add_argument("--from", dest="source", default=OSV_EXPORT, help="OSV all.zip (path or URL) or a folder")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check(args.requirements, args.advisories, strict=args.strict)
    return refresh(args.requirements, args.advisories, args.source)


if __name__ == "__main__":
    sys.exit(main())
