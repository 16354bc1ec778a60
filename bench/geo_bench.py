"""Location benchmark: how long `geo.resolve_location` takes for each form a patient types, over the
full gazetteer, without the answer cache (each figure is the gazetteer's own work).

    .venv/bin/python bench/geo_bench.py [--repeat 200] [--database-url URL]

1. Loads the gazetteer from the pinned `zipcodes` package into a scratch SQLite database in a
   temporary folder (the migration's own `load_gazetteer`), or uses a migrated database given by URL.
2. Times each form (ZIP, "City, ST", addresses, an ambiguous city, misspellings that get suggestions,
   nonsense) `--repeat` times and reports the median and 95th percentile. The first misspelling also
   pays for reading the ~25,000 place names once per process: that one-off cost and the memory it
   and rapidfuzz take are reported apart.

Prints a table and writes bench/results/geo-latest.json. Never fails on a speed figure.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from kapfinder import geo  # noqa: E402
from kapfinder.errors import AmbiguousLocation, UnknownLocation  # noqa: E402
from kapfinder.models import GazetteerPlace, GazetteerZip  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FORMS = {
    "zip": "78701",
    "city, st": "Austin, TX",
    "address with zip": "123 Main St, Austin, TX 78701",
    "address without zip": "100 Congress Ave, Suite 200, Austin, TX",
    "ambiguous city": "Portland",
    "misspelt, no state": "Chicgo",
    "misspelt, with state": "Chicgo, IL",
    "misspelt, long": "San Fransisco",
    "zip in another state": "Austin, NY 78701",
    "nonsense": "qwzx vbnm",
}


def rss_mb() -> float:
    """This process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def resolve(session: Session, text: str) -> str:
    try:
        return geo.resolve_location(session, text).label
    except UnknownLocation as err:
        return "unknown → " + ", ".join(s["label"] for s in err.suggestions or []) or "unknown"
    except AmbiguousLocation as err:
        return "which? " + ", ".join(c["label"] for c in err.choices[:3])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", help="a migrated kapfinder database (default: a scratch SQLite one)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as scratch:
        url = args.database_url or f"sqlite:///{scratch}/gazetteer.db"
        engine = create_engine(url)
        if not args.database_url:
            GazetteerZip.__table__.create(engine)
            GazetteerPlace.__table__.create(engine)
            with engine.begin() as conn:
                geo.load_gazetteer(conn)
        with Session(engine) as session:
            resolve(session, "78701")  # warm the connection
            before = rss_mb()
            started = time.perf_counter()
            resolve(session, "Chicgo")
            first_suggestion_ms = (time.perf_counter() - started) * 1000
            names_mb = rss_mb() - before
            rows = []
            for name, text in FORMS.items():
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    answer = resolve(session, text)
                    times.append((time.perf_counter() - started) * 1000)
                times.sort()
                rows.append({"form": name, "input": text, "answer": answer,
                             "median_ms": round(statistics.median(times), 2),
                             "p95_ms": round(times[int(0.95 * (len(times) - 1))], 2)})
        engine.dispose()

    results = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "engine": url.split(":")[0],
               "python": platform.python_version(), "repeat": args.repeat, "forms": rows,
               "first_suggestion_ms": round(first_suggestion_ms, 1),
               "names_and_rapidfuzz_rss_mb": round(names_mb, 1)}
    width = max(len(r["form"]) for r in rows)
    print(f"{'form':<{width}}  median ms  p95 ms  answer")
    for r in rows:
        print(f"{r['form']:<{width}}  {r['median_ms']:>9}  {r['p95_ms']:>6}  {r['answer']}")
    print(f"first misspelling in a process (reads the place names): {results['first_suggestion_ms']} ms; "
          f"resident memory it added (rapidfuzz's libraries included): {results['names_and_rapidfuzz_rss_mb']} MB")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "geo-latest.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
