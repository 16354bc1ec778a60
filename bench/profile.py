"""Where one gunicorn worker's time goes under the headline load (bench/README.md → Profiles).

    .venv/bin/python bench/profile.py [--clinics 100000] [--engine sqlite|postgres] [--seconds 15]

Serves the benchmark database as bench/httpload.py does, drives it with wrk (2 x 32, the 20,000
distinct queries, "Cache-Control: no-cache") and records one worker with py-spy (.venv/bin/py-spy,
100 samples a second, busy threads only). Writes the collapsed stacks to
bench/results/profile-<engine>-<clinics>.txt and prints, for a few parts of a request, the share of
samples whose stack passes through that part (a sample may count in several), then the functions
most often on top of the stack.
"""
from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import time
from pathlib import Path

import httpload

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY_SPY = ROOT / ".venv" / "bin" / "py-spy"

#: (part, substrings of a frame "function (file:line)"): a sample counts in a part when any frame
#: of its stack contains one of them.
PARTS: list[tuple[str, tuple[str, ...]]] = [
    ("the whole view (api.clinics)", ("clinics (kapfinder/views/api.py",)),
    ("criteria: parse and check", ("parse_criteria (",)),
    ("response cache: key, lookup, store", ("search_cache_key (", "set_bytes (", "get_bytes (")),
    ("location resolve (gazetteer)", ("resolve (kapfinder/search/plan.py",)),
    ("index: filter and rank", ("kapfinder/search/index.py",)),
    ("SQL through the driver (token, ZIP, cards)", ("raw_fetchall",)),
    ("cards: load and convert", ("kapfinder/search/cards.py",)),
    ("pre-encoded results: open and join", ("kapfinder/search/summaries.py",)),
    ("page: hits and coverage", ("build_page (",)),
    ("serialize: result dicts", ("search_response (",)),
    ("JSON encoding (orjson via Flask)", ("dumps (kapfinder/serving.py",)),
    ("logging", ("logging/__init__.py",)),
    ("SQLAlchemy pool: ping and rollback", ("do_ping (", "do_rollback (")),
    ("Flask request/response machinery", ("wsgi_app (flask/app.py",)),
    ("gunicorn: write the reply", ("write (gunicorn/util.py",)),
]
#: C code with no Python frame of its own, counted by the line it runs on.
LEAVES: list[tuple[str, str]] = [
    ("zlib.compress of the reply for the response cache (view's own line)", "clinics (kapfinder/views/api.py:55)"),
]


def summarize(collapsed: Path, top: int = 25) -> str:
    stacks: list[tuple[list[str], int]] = []
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    total = sum(n for _s, n in stacks) or 1
    out = [f"{total} samples"]
    for part, needles in PARTS:
        n = sum(c for frames, c in stacks if any(needle in f for f in frames for needle in needles))
        out.append(f"  {n / total:6.1%}  {part}")
    for part, leaf in LEAVES:
        n = sum(c for frames, c in stacks if frames[-1] == leaf)
        out.append(f"  {n / total:6.1%}  {part}")
    leaves: collections.Counter[str] = collections.Counter()
    for frames, c in stacks:
        leaves[frames[-1]] += c
    out.append("most often on top of the stack:")
    out += [f"  {n / total:6.1%}  {frame}" for frame, n in leaves.most_common(top)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinics", type=int, default=100_000)
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--label", default="", help="a suffix for the output file (e.g. before, after)")
    parser.add_argument("--summarize", type=Path, help="only print the summary of a recorded file")
    args = parser.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    import run

    built = run.ensure_database(args.engine, args.clinics, False)
    scripts = httpload.scripts_for(built["url"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile-{args.engine}-{args.clinics}{'-' + args.label if args.label else ''}.txt"
    with httpload.served(built["url"]) as (base, proc, _cmd):
        for p in scripts["paths"][:20]:
            httpload.get(base + p, timeout=30)
        worker = httpload.worker_pids(proc.pid)[0]
        load = subprocess.Popen([httpload.WRK, f"-t{httpload.THREADS}", f"-c{httpload.CONNECTIONS}",
                                 f"-d{args.seconds + 4}s", "--timeout", "10s", "-s", str(scripts["no_cache"]),
                                 base + "/"], stdout=subprocess.PIPE, text=True)
        time.sleep(1)
        subprocess.run([str(PY_SPY), "record", "-p", str(worker), "-d", str(args.seconds), "-r", "100",
                        "--format", "raw", "-o", str(out)], check=True, capture_output=True)
        wrk_out, _ = load.communicate(timeout=args.seconds + 60)
    rps = [line for line in wrk_out.splitlines() if "Requests/sec" in line]
    text = summarize(out)
    print(f"{args.engine} {args.clinics:,} clinics, worker {worker}, {rps[0].strip() if rps else '?'} "
          f"(with py-spy attached)\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
