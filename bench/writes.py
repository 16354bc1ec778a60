"""Search latency while listings change: one committed change a second, and how soon searches see it.

    .venv/bin/python bench/run.py --write-seconds 30      (part of `make bench`)
    .venv/bin/python bench/writes.py --writer URL SECONDS  (the writer process, started by the above)

The searching process times the query mix for ``seconds`` with no writes, then for as long again
while a writer *process* commits one listing change a second (in turn: a re-confirmation, a field
edit, an unpublishing, an approval of the listing unpublished before), through the database as
another gunicorn worker or a moderator's request would. Every search ends its transaction, as a
request does, so the next one sees the latest commit.

Reported: p99 without and with writes (the goal: at most 2x), and the change-visibility lag: for
each change, from its commit to the end of the first search that answered from data including it
(the goal: at most 1 s), plus the share of searches the index answered (not the SQL fallback).
"""
from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import DateTime, bindparam, create_engine, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

KINDS = ("re-confirmation", "field edit", "unpublishing", "approval")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


# --- the writer process ---------------------------------------------------------------------------------

def writer(url: str, seconds: float) -> None:
    """Commit one change a second for ``seconds``; print one JSON line per commit:
    {"kind", "generation", "committed": time.monotonic() just after the commit}."""
    from kapfinder.db import configure_engine

    engine = create_engine(url)
    configure_engine(engine)
    rng = random.Random(20261206)
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM clinic WHERE status = 'published' ORDER BY id LIMIT 5000")).scalars().all()
    unpublished: list[str] = []
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < seconds:
        due = started + i
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        kind = KINDS[i % len(KINDS)]
        clinic = rng.choice(ids)
        with engine.begin() as conn:
            if kind == "re-confirmation":
                conn.execute(text("UPDATE clinic SET confirmed_at = :now, updated_at = :now WHERE id = :id")
                             .bindparams(bindparam("now", type_=DateTime())), {"now": _utcnow(), "id": clinic})
            elif kind == "field edit":
                conn.execute(text("UPDATE clinic SET accepting_new_patients = NOT COALESCE(accepting_new_patients, "
                                  "FALSE) WHERE id = :id"), {"id": clinic})
            elif kind == "unpublishing":
                conn.execute(text("UPDATE clinic SET status = 'archived' WHERE id = :id"), {"id": clinic})
                unpublished.append(clinic)
            else:  # a moderator approves a listing that was not published
                clinic = unpublished.pop(0) if unpublished else clinic
                conn.execute(text("UPDATE clinic SET status = 'published' WHERE id = :id"), {"id": clinic})
            generation = conn.execute(text("SELECT generation FROM search_state WHERE id = 1")).scalar_one()
        print(json.dumps({"kind": kind, "generation": int(generation), "committed": time.monotonic()}), flush=True)
        i += 1
    with engine.begin() as conn:  # leave the directory as it was found (the bench database is cached)
        for clinic in unpublished:
            conn.execute(text("UPDATE clinic SET status = 'published' WHERE id = :id"), {"id": clinic})
    engine.dispose()


def _utcnow():
    from kapfinder.models import utcnow

    return utcnow()


# --- the searching side ------------------------------------------------------------------------------------

def _timed_searches(session: Session, criteria: list, now, seconds: float, cache) -> list[tuple[float, float, int, bool]]:
    """Search the mix round and round for ``seconds``: (started, finished, generation seen, index answered)."""
    from kapfinder.search import registry, search
    from kapfinder.search.freshness import read_token

    out = []
    started = time.monotonic()
    i = 0
    while time.monotonic() - started < seconds:
        c = criteria[i % len(criteria)]
        t0 = time.monotonic()
        search(session, c, now=now, cache=cache)
        t1 = time.monotonic()
        token = read_token(session)  # what the search saw: same transaction
        current = registry.current(session)
        out.append((t0, t1, token[1] if token else -1, current is not None and current.token == token))
        session.rollback()  # the request ends: the next search sees the latest commit
        i += 1
    return out


def measure(url: str, mix: list[dict], now, seconds: float) -> dict:
    """p99 without and with one change a second, and the visibility lag of those changes."""
    from kapfinder.cache import get_cache
    from kapfinder.db import configure_engine
    from kapfinder.search import parse_criteria, search

    engine = create_engine(url)
    configure_engine(engine)
    cache = get_cache(None)
    criteria = [parse_criteria(args, api=True) for args in mix]
    with Session(engine) as session:
        for c in criteria[:50]:
            search(session, c, now=now, cache=cache)
        session.rollback()
        quiet = _timed_searches(session, criteria, now, seconds, cache)
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--writer", url, str(seconds)],
                                stdout=subprocess.PIPE, text=True)
        busy = _timed_searches(session, criteria, now, seconds + 3, cache)  # the last change seen too
        out, _err = proc.communicate(timeout=120)
    engine.dispose()
    commits = [json.loads(line) for line in out.splitlines() if line.strip()]
    lags = []
    for c in commits:
        seen = [t1 for t0, t1, generation, _ix in busy if generation >= c["generation"] and t1 >= c["committed"]]
        if seen:
            lags.append(min(seen) - c["committed"])
    p99_quiet = _percentile([t1 - t0 for t0, t1, _g, _i in quiet], 99) * 1000
    p99_busy = _percentile([t1 - t0 for t0, t1, _g, _i in busy], 99) * 1000
    return {
        "seconds": seconds, "writes": len(commits), "kinds": sorted({c["kind"] for c in commits}),
        "searches_quiet": len(quiet), "searches_with_writes": len(busy),
        "p50_ms_quiet": round(_percentile([t1 - t0 for t0, t1, _g, _i in quiet], 50) * 1000, 3),
        "p50_ms_with_writes": round(_percentile([t1 - t0 for t0, t1, _g, _i in busy], 50) * 1000, 3),
        "p99_ms_quiet": round(p99_quiet, 3), "p99_ms_with_writes": round(p99_busy, 3),
        "p99_ratio": round(p99_busy / p99_quiet, 3) if p99_quiet else None,
        "max_ms_quiet": round(max((t1 - t0 for t0, t1, _g, _i in quiet), default=0) * 1000, 1),
        "max_ms_with_writes": round(max((t1 - t0 for t0, t1, _g, _i in busy), default=0) * 1000, 1),
        "index_share_with_writes": round(sum(ix for *_x, ix in busy) / max(1, len(busy)), 4),
        "lag_ms_p50": round(_percentile(lags, 50) * 1000, 1) if lags else None,
        "lag_ms_max": round(max(lags) * 1000, 1) if lags else None,
        "lags_measured": len(lags),
    }


def report_rows(w: dict) -> list[tuple[str, str, str, bool | None]]:
    """Rows for bench/run.py's table."""
    rows = [(f"search p99, no writes -> 1 write/s ({w['writes']} writes)",
             f"{w['p99_ms_quiet']:.2f} -> {w['p99_ms_with_writes']:.2f} ms ({w['p99_ratio']}x; index answered "
             f"{w['index_share_with_writes']:.1%})", "<= 2x", w["p99_ratio"] is not None and w["p99_ratio"] <= 2.0)]
    lag_ok = w["lag_ms_max"] is not None and w["lag_ms_max"] <= 1000 and w["lags_measured"] == w["writes"]
    rows.append(("change visible to searches after commit",
                 f"p50 {w['lag_ms_p50']} ms, max {w['lag_ms_max']} ms ({w['lags_measured']}/{w['writes']} seen)",
                 "<= 1000 ms", lag_ok))
    return rows


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--writer":
        writer(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit(__doc__)
