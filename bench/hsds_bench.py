"""Open-data benchmark: export and import time and peak memory of each format at N listings.

    .venv/bin/python bench/hsds_bench.py [--clinics 100000] [--formats csv,hsds-json,hsds-csv] [--keep]

1. Builds N fictional sample clinics (`flask db upgrade` + `flask sample load --clinics N`) in a
   scratch SQLite database in a temporary folder, and an empty migrated database beside it.
2. For each format: `flask clinics export --format F` of the whole directory, then
   `flask clinics import --publish` of that export into a fresh copy of the empty database, and
   checks that every listing arrived.
3. Each step is a separate `flask` process, so its wall time includes start-up (about 1-2 s) and its
   peak resident memory (`ru_maxrss` from wait4) is that step's alone.

Prints a table with ratios against the targets and writes bench/results/hsds-latest.json. Never fails
on a speed figure: the exit status is non-zero only when a step itself failed.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FLASK = ROOT / ".venv" / "bin" / "flask"
FORMATS = ("csv", "hsds-json", "hsds-csv")

#: Targets (issue 8 and the brief): each format exports and imports 100,000 listings in a few
#: minutes at most on 2 cores, with memory that does not grow with the input.
TARGET_SECONDS_PER_100K = 180.0
TARGET_PEAK_MB = 400.0
STARTUP_ALLOWANCE_S = 5.0  # each step is a new process: small runs are mostly start-up


def log(message: str) -> None:
    print(f"[hsds-bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def run(args: list[str], database: Path, instance: Path) -> tuple[float, float, str]:
    """Run one `flask` command against ``database``: (wall seconds, peak RSS in MB, stdout)."""
    env = {**os.environ, "KAPFINDER_ENV": "development", "KAPFINDER_DATABASE_URL": f"sqlite:///{database}",
           "KAPFINDER_INSTANCE_PATH": str(instance), "FLASK_APP": "app.py"}
    env.pop("KAPFINDER_REDIS_URL", None)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        process = subprocess.Popen([str(FLASK), *args], cwd=ROOT, env=env, stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if process.returncode != 0:
        # The exception lines first: a database error's message can end in megabytes of parameters.
        errors = [line[:500] for line in stderr.splitlines() if re.match(r"^[\w.]+(Error|Exception): ", line)]
        raise SystemExit(f"`flask {' '.join(args)}` failed ({process.returncode}):\n" + "\n".join(errors)
                         + f"\n--- output ---\n{stdout[-2000:]}\n--- errors (end) ---\n{stderr[-1000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout  # ru_maxrss is in KiB on Linux


def shorten_long_hosts(database: Path) -> int:
    """The sample generator makes its host from the clinic's slug; a long slug gives a DNS label over
    63 characters, an address the official schema's email format refuses. Shorten those here."""
    import sqlite3

    connection = sqlite3.connect(database)
    try:
        rows = connection.execute("SELECT id, website, email FROM clinic WHERE sample = 1").fetchall()
        fixed = []
        for clinic_id, website, email in rows:
            host = (email or "").partition("@")[2]
            label = host.split(".")[0]
            if len(label) > 63:
                short = label[:63].rstrip("-") + host[len(label):]
                fixed.append(((website or "").replace(host, short), email.replace(host, short), clinic_id))
        connection.executemany("UPDATE clinic SET website = ?, email = ? WHERE id = ?", fixed)
        connection.commit()
        return len(fixed)
    finally:
        connection.close()


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def ratio(value: float, target: float) -> str:
    return f"{value / target:.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clinics", type=int, default=100_000, help="sample clinics to build (default 100,000)")
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated formats (default: all three)")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    formats = [f for f in args.formats.split(",") if f]
    unknown = set(formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown format(s): {', '.join(sorted(unknown))}")

    work = args.workdir or Path(tempfile.mkdtemp(prefix="kapfinder-hsds-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    instance = work / "instance"
    instance.mkdir(exist_ok=True)
    source, empty = work / "source.sqlite3", work / "empty.sqlite3"
    results: dict = {
        "benchmark": "hsds", "clinics": args.clinics, "engine": "sqlite",
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "targets": {"seconds_per_100k": TARGET_SECONDS_PER_100K, "peak_rss_mb": TARGET_PEAK_MB},
        "formats": {},
    }
    total_started = time.perf_counter()
    try:
        log(f"scratch folder {work}")
        for database in (source, empty):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            run(["db", "upgrade"], database, instance)
        log(f"building {args.clinics:,} sample clinics")
        seconds, _rss, out = run(["sample", "load", "--clinics", str(args.clinics)], source, instance)
        results["sample_load_s"] = round(seconds, 2)
        log(f"  {out.strip().splitlines()[-1] if out.strip() else ''} ({seconds:.1f} s wall)")
        repaired = shorten_long_hosts(source)
        results["sample_hosts_shortened"] = repaired
        if repaired:
            log(f"  {repaired} sample listing(s) had a web/e-mail host label over 63 characters, which no "
                "valid address has (the import refuses such e-mail addresses): shortened to 63")

        for fmt in formats:
            target = work / "exports" / (f"{fmt}.csv" if fmt == "csv" else fmt)
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
            log(f"{fmt}: export")
            export_s, export_mb, out = run(["clinics", "export", "--format", fmt, str(target)], source, instance)
            exported = int(re.search(r"Exported (\d+)", out).group(1))
            log(f"  {exported:,} listings in {export_s:.1f} s, peak {export_mb:.0f} MB, {size_of(target) / 2**20:.0f} MB on disk")

            database = work / f"import-{fmt}.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            shutil.copyfile(empty, database)
            log(f"{fmt}: import --publish into an empty database")
            import_s, import_mb, out = run(["clinics", "import", "--publish", str(target)], database, instance)
            match = re.search(r"(\d+) new and (\d+) updated", out)
            created = int(match.group(1)) if match else -1
            log(f"  {created:,} new listings in {import_s:.1f} s, peak {import_mb:.0f} MB")
            if created != exported:
                raise SystemExit(f"{fmt}: exported {exported} listings but imported {created}:\n{out[-2000:]}")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{database}{suffix}").unlink(missing_ok=True)
            results["formats"][fmt] = {
                "listings": exported, "export_s": round(export_s, 2), "export_peak_mb": round(export_mb, 1),
                "export_bytes": size_of(target), "import_s": round(import_s, 2), "import_peak_mb": round(import_mb, 1),
            }
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    results["total_s"] = round(time.perf_counter() - total_started, 1)
    scale = args.clinics / 100_000 if args.clinics else 1
    target_s = TARGET_SECONDS_PER_100K * scale + STARTUP_ALLOWANCE_S
    print()
    print(f"Open-data export and import, {args.clinics:,} listings, SQLite, {os.cpu_count()} CPUs "
          f"(target: each step <= {target_s:.0f} s, peak <= {TARGET_PEAK_MB:.0f} MB)")
    header = f"{'format':<10} {'export s':>9} {'vs target':>9} {'peak MB':>8} {'import s':>9} {'vs target':>9} {'peak MB':>8} {'MB on disk':>10}"
    print(header)
    print("-" * len(header))
    for fmt, r in results["formats"].items():
        print(f"{fmt:<10} {r['export_s']:>9.1f} {ratio(r['export_s'], target_s):>9} {r['export_peak_mb']:>8.0f} "
              f"{r['import_s']:>9.1f} {ratio(r['import_s'], target_s):>9} {r['import_peak_mb']:>8.0f} "
              f"{r['export_bytes'] / 2**20:>10.0f}")
    print(f"(sample load {results['sample_load_s']:.0f} s; whole run {results['total_s']:.0f} s; "
          "times include about 1-2 s of process start-up)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "hsds-latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS / 'hsds-latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
