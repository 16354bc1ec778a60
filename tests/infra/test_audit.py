"""The dependency audit (.ci/audit.py, `make audit`, run by .ci/run): pinned versions against the OSV
records stored in .ci/advisories, offline."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
AUDIT = ROOT / ".ci" / "audit.py"


def audit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(AUDIT), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def requirements(tmp_path: Path, *pins: str) -> Path:
    path = tmp_path / "requirements.txt"
    path.write_text("# a project's pins\n" + "\n".join(pins) + "\n")
    return path


def test_the_projects_pins_pass_the_audit():
    result = audit("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no pinned version is inside a stored vulnerable range" in result.stdout


def test_a_known_vulnerable_pin_fails_the_run(tmp_path):
    result = audit("check", str(requirements(tmp_path, "Flask==3.1.3", "Werkzeug==3.0.0")))
    assert result.returncode == 1
    assert "VULNERABLE Werkzeug==3.0.0 (requirements.txt:3): PYSEC-2023-221 (CVE-2023-46136" in result.stdout
    assert "fixed in 3.0.1" in result.stdout
    assert "Flask==3.1.3" not in result.stdout.split("VULNERABLE", 1)[1]


def test_a_vulnerable_pin_in_an_included_file_fails_too(tmp_path):
    (tmp_path / "base.txt").write_text("requests==2.30.0\n")
    dev = tmp_path / "dev.txt"
    dev.write_text("-r base.txt\npytest==9.2.0\n")
    result = audit("check", str(dev))
    assert result.returncode == 1 and "VULNERABLE requests==2.30.0 (base.txt:1): PYSEC-2023-74" in result.stdout


def test_ranges_follow_osv_rules_on_every_branch(tmp_path):
    # urllib3's advisory is fixed on two branches: 1.26.18 and 2.0.7.
    for version, vulnerable in (("1.26.17", True), ("1.26.18", False), ("2.0.0", True), ("2.0.6", True),
                                ("2.0.7", False), ("2.8.0", False)):
        result = audit("check", str(requirements(tmp_path, f"urllib3=={version}")))
        assert (result.returncode == 1) is vulnerable, (version, result.stdout)
    # An advisory introduced at 2.3.0 leaves older versions alone.
    assert audit("check", str(requirements(tmp_path, "requests==2.2.1"))).returncode == 0


def test_the_output_says_how_fresh_the_stored_data_is():
    source = json.loads((ROOT / ".ci" / "advisories" / "SOURCE.json").read_text())
    result = audit("check")
    assert source["as_of"] in result.stdout
    if not source["complete"]:
        assert "make audit-refresh" in result.stdout


def osv_record(id_: str, package: str, introduced: str, fixed: str) -> dict:
    return {"id": id_, "modified": "2026-11-30T00:00:00Z", "summary": f"{package} test advisory",
            "affected": [{"package": {"ecosystem": "PyPI", "name": package},
                          "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {"fixed": fixed}]}]}]}


def test_refresh_keeps_the_pinned_packages_records_from_an_osv_export(tmp_path):
    export = tmp_path / "all.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("GHSA-aaaa.json", json.dumps(osv_record("GHSA-aaaa", "Jinja2", "3.0.0", "3.1.7")))
        archive.writestr("PYSEC-bbbb.json", json.dumps(osv_record("PYSEC-bbbb", "django", "0", "9.0")))
    pins = requirements(tmp_path, "jinja2==3.1.6")
    store = tmp_path / "advisories"
    result = audit("refresh", str(pins), "--advisories", str(store), "--from", str(export))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in store.iterdir()) == ["GHSA-aaaa.json", "SOURCE.json"]
    source = json.loads((store / "SOURCE.json").read_text())
    assert source["complete"] and source["packages"] == ["jinja2"]
    # Offline from here on: the stored record fails the vulnerable pin, strictly.
    failed = audit("check", str(pins), "--advisories", str(store), "--strict")
    assert failed.returncode == 1 and "GHSA-aaaa" in failed.stdout
    passed = audit("check", str(requirements(tmp_path, "Jinja2==3.1.7")), "--advisories", str(store), "--strict")
    assert passed.returncode == 0, passed.stdout


def test_strict_fails_on_pins_no_refresh_looked_up(tmp_path):
    store = tmp_path / "advisories"
    store.mkdir()
    (store / "SOURCE.json").write_text(json.dumps({"source": "test", "as_of": "today", "packages": ["flask"]}))
    pins = requirements(tmp_path, "Flask==3.1.3", "Werkzeug==3.1.9")
    assert audit("check", str(pins), "--advisories", str(store)).returncode == 0
    strict = audit("check", str(pins), "--advisories", str(store), "--strict")
    assert strict.returncode == 1 and "Werkzeug: not looked up" in strict.stdout
