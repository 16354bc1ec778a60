"""kapfinder benchmark (`make bench`): sample load, search service latency, naive baseline, HTTP.

    .venv/bin/python bench/run.py [--clinics 100000] [--engine sqlite|postgres] [--quick] [--rebuild]

1. Builds N fictional sample clinics once (`flask db upgrade` + the `flask sample load` code path)
   into bench/cache/ (SQLite) or the database kapfinder_bench on 127.0.0.1:5432 (PostgreSQL), and
   rebuilds only when it is missing, has another size, or the generator/schema code changed.
2. Times `search.search(session, parse_criteria(...))` over a fixed, seeded mix of queries: ZIP
   centroids, radii 10-250 mi, a third with a method filter, a third with an insurance carrier.
3. Times a naive baseline on a subset of that mix: load every published clinic, geopy great_circle
   (radius 6371.0088 km) to each, filter, sort; and checks both give the same totals and first page.
4. bench/httpload.py: serves the app with gunicorn on a loopback port and measures requests/s of
   /api/v1/clinics against /healthz with wrk 2x32: the headline is 20,000 distinct queries with
   "Cache-Control: no-cache" (every request searched afresh), beside it 200 repeated queries as
   served (answered from the response cache), plus each worker's memory (resident, and its
   proportional share).

The service is timed as the app calls it: with the gazetteer cache, after a warm-up that builds
the search index, and with the objects made so far frozen out of the garbage collector, as
gunicorn.conf.py does in the master before it forks.

Prints a table against the targets and writes bench/results/latest.json. Never fails on a speed
figure: the exit status is non-zero only when the benchmark itself could not run.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import platform
import random
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpload  # noqa: E402  (bench/httpload.py: the gunicorn + wrk part)
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

BENCH = ROOT / "bench"
CACHE = BENCH / "cache"
RESULTS = BENCH / "results"
POSTGRES_URL = os.environ.get("KAPFINDER_BENCH_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/kapfinder_bench")
SAMPLE_SEED = 1
QUERY_SEED = 20261125
RADII = (10, 25, 50, 100, 250)
PER_PAGE = 20

TARGETS = {
    "p99_ms": {100_000: 5.0, 1_000_000: 20.0},
    "naive_ratio": 100.0,
    "api_vs_healthz": 0.5,
    "load_s": {100_000: 60.0, 1_000_000: 300.0},
    "worker_rss_mb": 150.0,
}


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# --- the database ----------------------------------------------------------------------------------

def code_fingerprint() -> str:
    """Changes whenever the generator, the bulk path, the models or the migrations change."""
    digest = hashlib.sha256()
    paths = [ROOT / "kapfinder" / "sample.py", ROOT / "kapfinder" / "bulk.py",
             *sorted((ROOT / "kapfinder" / "models").glob("*.py")),
             *sorted((ROOT / "migrations" / "versions").glob("*.py"))]
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def database_url(engine: str, clinics: int) -> str:
    if engine == "sqlite":
        return f"sqlite:///{CACHE / f'kapfinder-{clinics}.sqlite3'}"
    return POSTGRES_URL


def _meta_path(engine: str, clinics: int) -> Path:
    return CACHE / (f"kapfinder-{clinics}.json" if engine == "sqlite" else "postgres.json")


def _reset_postgres(url: str) -> None:
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def _count_published(url: str) -> int | None:
    from kapfinder.models import Clinic, Status

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            return session.scalar(select(func.count()).select_from(Clinic).where(
                Clinic.status == Status.PUBLISHED, Clinic.sample.is_(True)))
    except Exception:
        return None
    finally:
        engine.dispose()


def ensure_database(engine: str, clinics: int, rebuild: bool) -> dict:
    """The cached database with `clinics` sample clinics; built (and timed) when needed."""
    CACHE.mkdir(parents=True, exist_ok=True)
    url = database_url(engine, clinics)
    meta_path = _meta_path(engine, clinics)
    fingerprint = code_fingerprint()
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else None
    fresh = (not rebuild and meta is not None and meta.get("fingerprint") == fingerprint
             and meta.get("clinics") == clinics and _count_published(url) == clinics)
    if fresh:
        log(f"using the cached {engine} database with {clinics:,} clinics (built {meta['built_at']})")
        return {**meta, "cached": True, "url": url}

    log(f"building a {engine} database with {clinics:,} sample clinics (cached for later runs)")
    if engine == "sqlite":
        db_file = CACHE / f"kapfinder-{clinics}.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
    else:
        _reset_postgres(url)

    from flask_migrate import upgrade

    from kapfinder import create_app, sample
    from kapfinder.config import DevelopmentConfig
    from kapfinder.extensions import db

    cfg = DevelopmentConfig()
    cfg.SQLALCHEMY_DATABASE_URI = url
    cfg.INSTANCE_PATH = str(CACHE / "instance")
    app = create_app(cfg)
    with app.app_context():
        started = time.perf_counter()
        upgrade()
        migrate_s = time.perf_counter() - started
        log(f"schema and gazetteer ready in {migrate_s:.1f} s; loading sample clinics")
        result = sample.load(db.session(), clinics, SAMPLE_SEED)
        db.session.remove()
        db.engine.dispose()
    vacuum_s = 0.0
    if engine == "postgres":
        # What an operator runs after a bulk load; otherwise autovacuum does it during the timings.
        started = time.perf_counter()
        vacuum = create_engine(url, isolation_level="AUTOCOMMIT")
        with vacuum.connect() as conn:
            conn.execute(text("VACUUM (ANALYZE) clinic, clinic_insurance, clinic_price, clinic_at_home_state"))
        vacuum.dispose()
        vacuum_s = time.perf_counter() - started
        log(f"VACUUM (ANALYZE) after the load: {vacuum_s:.1f} s")
    meta = {"engine": engine, "clinics": clinics, "seed": SAMPLE_SEED, "fingerprint": fingerprint,
            "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "load_s": round(result.seconds, 2), "migrate_s": round(migrate_s, 2), "vacuum_s": round(vacuum_s, 2)}
    meta_path.write_text(json.dumps(meta, indent=2))
    log(f"loaded {result.inserted:,} clinics in {result.seconds:.1f} s "
        f"({result.inserted / max(result.seconds, 1e-9):,.0f} clinics/s)")
    return {**meta, "cached": False, "url": url}


# --- the query mix ------------------------------------------------------------------------------------

def query_mix(session: Session, count: int) -> list[dict[str, list[str]]]:
    """A fixed, seeded list of search parameters: ZIP centroids where people (and clinics) are."""
    from kapfinder import sample, vocab

    zips = sample.standard_zips(session)
    weights = [z.weight for z in zips]
    rng = random.Random(QUERY_SEED)
    mix = []
    for i in range(count):
        z = rng.choices(zips, weights=weights)[0]
        args = {"location": [z.zip], "radius": [str(rng.choice(RADII))]}
        if i % 3 == 1:
            args["method"] = [rng.choice(vocab.METHODS.slugs)]
        elif i % 3 == 2:
            args["insurance"] = [rng.choice(vocab.CARRIERS.slugs)]
        mix.append(args)
    return mix


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = max(0, math.ceil(q / 100 * len(sorted_values)) - 1)
    return sorted_values[index]


def summary_ms(seconds: list[float]) -> dict:
    values = sorted(s * 1000 for s in seconds)
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 3), "p95_ms": round(percentile(values, 95), 3),
            "p99_ms": round(percentile(values, 99), 3), "max_ms": round(values[-1], 3) if values else None,
            "mean_ms": round(sum(values) / len(values), 3) if values else None}


def time_service(session: Session, mix: list[dict], now: datetime) -> tuple[dict, list, list[float]]:
    from kapfinder.cache import get_cache
    from kapfinder.search import parse_criteria, search

    # As the app calls it: with the gazetteer cache a process without Redis keeps (serving.py).
    cache = get_cache(None)
    criteria = [parse_criteria(args, api=True) for args in mix]
    for c in criteria[: min(50, len(criteria))]:  # warm the caches, the connection and the index
        search(session, c, now=now, cache=cache)
    gc.freeze()  # as gunicorn.conf.py does once the index is built: start-up objects are never rescanned
    times, pages = [], []
    for c in criteria:
        started = time.perf_counter()
        page = search(session, c, now=now, cache=cache)
        times.append(time.perf_counter() - started)
        pages.append(page)
    return summary_ms(times), pages, times


def naive_search(session: Session, args: dict, now: datetime) -> dict:
    """What a search would cost without an index: every published clinic, every distance."""
    from geopy.distance import great_circle

    from kapfinder import geo, vocab
    from kapfinder.models import STALE_AFTER, Clinic, ClinicAtHomeState, ClinicInsurance, Status

    loc = geo.resolve_location(session, args["location"][0])
    radius = float(args["radius"][0])
    method_mask = vocab.METHODS.mask(args.get("method", []))
    carrier = args.get("insurance", [None])[0]
    in_clinic, at_home = vocab.SETTINGS.mask(["in-clinic"]), vocab.SETTINGS.mask(["at-home"])
    service_bit = {slug: vocab.SERVICES.mask([slug]) for slug in vocab.SERVICES.slugs}
    cutoff = now - STALE_AFTER

    clinics = session.execute(select(
        Clinic.id, Clinic.name, Clinic.lat, Clinic.lon, Clinic.methods_mask, Clinic.settings_mask,
        Clinic.services_mask, Clinic.confirmed_at).where(Clinic.status == Status.PUBLISHED)).all()
    serving = set(session.scalars(select(ClinicAtHomeState.clinic_id).where(ClinicAtHomeState.state == loc.state)))
    insured: set[str] | None = None
    if carrier:
        insured = set()
        for cid, service, network in session.execute(select(
                ClinicInsurance.clinic_id, ClinicInsurance.service, ClinicInsurance.network)
                .where(ClinicInsurance.carrier == carrier)):
            insured.add((cid, service, network))
    services_of = {c.id: c.services_mask for c in clinics} if carrier else {}
    if insured is not None:
        insured = {cid for cid, service, network in insured
                   if network in vocab.NETWORKS and services_of.get(cid, 0) & service_bit.get(service, 0)}

    near, home = [], []
    for c in clinics:
        if method_mask and not c.methods_mask & method_mask:
            continue
        if insured is not None and c.id not in insured:
            continue
        stale = c.confirmed_at is None or c.confirmed_at < cutoff
        within = False
        if c.settings_mask & in_clinic and c.lat is not None:
            d = great_circle((loc.lat, loc.lon), (c.lat, c.lon), radius=geo.EARTH_RADIUS_KM).km / geo.KM_PER_MILE
            if d <= radius:
                within = True
                confirmed = c.confirmed_at.timestamp() if c.confirmed_at else float("-inf")
                near.append(((geo.round_tenth(d), stale, -confirmed, c.name.lower(), c.id), c.id))
        if not within and c.settings_mask & at_home and c.id in serving:
            home.append(((stale, c.name.lower(), c.id), c.id))
    near.sort()
    home.sort()
    ranked = [cid for _k, cid in near] + [cid for _k, cid in home]
    return {"distance_total": len(near), "state_total": len(home), "first_page": ranked[:PER_PAGE]}


def time_naive(session: Session, mix: list[dict], pages: list, service_times: list[float], count: int,
               now: datetime) -> dict:
    # Spread the subset over the whole mix so it has every radius and filter kind.
    step = max(1, len(mix) // count)
    picks = list(range(0, len(mix), step))[:count]
    times, agree, disagreements = [], 0, []
    for i in picks:
        started = time.perf_counter()
        answer = naive_search(session, mix[i], now)
        times.append(time.perf_counter() - started)
        page = pages[i]
        same = (answer["distance_total"] == page.distance_total and answer["state_total"] == page.state_total
                and answer["first_page"] == [hit.clinic.id for hit in page.hits])
        if same:
            agree += 1
        else:
            disagreements.append({"query": mix[i], "naive": {k: answer[k] for k in ("distance_total", "state_total")},
                                  "service": {"distance_total": page.distance_total,
                                              "state_total": page.state_total}})
    # Speed-up on exactly these queries: mean naive time over the service's mean time for them.
    service_mean = sum(service_times[i] for i in picks) / len(picks)
    return {**summary_ms(times), "ratio": round(sum(times) / len(times) / service_mean, 1) if service_mean else None,
            "same_answer": agree, "compared": len(picks), "disagreements": disagreements[:5]}


# --- report ----------------------------------------------------------------------------------------------

def _target(kind: str, clinics: int):
    value = TARGETS[kind]
    if isinstance(value, dict):
        return value.get(clinics) or value[min(value, key=lambda n: abs(n - clinics))]
    return value


def _row(metric: str, value: str, target: str, met: bool | None) -> tuple[str, str, str, str]:
    status = "n/a" if met is None else ("met" if met else "MISSED")
    return metric, value, target, status


def _num(value, digits: int = 0) -> str:
    return "?" if value is None else f"{value:,.{digits}f}"


def report(results: dict) -> str:
    n = results["clinics"]
    rows = []
    load = results["load"]
    load_target = _target("load_s", n)
    rows.append(_row("sample load" + (" (cached build)" if load["cached"] else ""),
                     f"{load['load_s']:.1f} s ({_num(n / load['load_s'] if load['load_s'] else None)}/s)", f"< {load_target:.0f} s",
                     load["load_s"] < load_target))
    svc = results["service"]
    p99_target = _target("p99_ms", n)
    rows.append(_row(f"search p50 / p95 ({svc['n']} queries)", f"{svc['p50_ms']:.2f} / {svc['p95_ms']:.2f} ms",
                     "", None))
    rows.append(_row("search p99", f"{svc['p99_ms']:.2f} ms ({svc['p99_ms'] / p99_target:.2f}x the target)",
                     f"<= {p99_target:.0f} ms", svc["p99_ms"] <= p99_target))
    naive = results["naive"]
    rows.append(_row(f"naive p50 ({naive['n']} queries)", f"{naive['p50_ms']:,.0f} ms", "", None))
    rows.append(_row("speed-up over naive (same queries)", f"{_num(results['naive_ratio'])}x",
                     f">= {TARGETS['naive_ratio']:.0f}x",
                     results["naive_ratio"] is not None and results["naive_ratio"] >= TARGETS["naive_ratio"]))
    rows.append(_row("same answer as naive", f"{naive['same_answer']}/{naive['compared']}", "all",
                     naive["same_answer"] == naive["compared"]))
    if "p99_ratio" in results.get("writes", {}):
        from bench import writes

        rows += [_row(*row) for row in writes.report_rows(results["writes"])]
    http = results["http"]
    rows += [_row(metric, value, goal, met) for metric, value, goal, met in httpload.rows(http)]
    if "skipped" not in http:
        rss = http["worker_rss_mb"]
        rows.append(_row("gunicorn worker RSS", ", ".join(f"{v:.0f} MB" for v in rss if v) or "?",
                         f"< {TARGETS['worker_rss_mb']:.0f} MB", bool(rss) and max(rss) < TARGETS["worker_rss_mb"]))
        pss = http.get("worker_pss_mb") or []
        rows.append(_row("  of which its own share (PSS)", ", ".join(f"{v:.0f} MB" for v in pss if v) or "?",
                         "", None))
    widths = [max(len(r[i]) for r in rows + [("metric", "value", "target", "status")]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    out = [f"kapfinder benchmark: {n:,} clinics on {results['engine']} ({results['machine']['cpus']} CPUs, "
           f"{results['generated_at']})", line,
           "  ".join(h.ljust(w) for h, w in zip(("metric", "value", "target", "status"), widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    out.append(line)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clinics", type=int, default=100_000, help="sample clinics (100000; 1000000 for the big run)")
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--quick", action="store_true", help="fewer queries and shorter HTTP runs")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database even if it is current")
    parser.add_argument("--no-http", action="store_true", help="skip the gunicorn + wrk part")
    parser.add_argument("--http-only", action="store_true", help="only the gunicorn + wrk part (bench/httpload.py)")
    parser.add_argument("--http-seconds", type=int, help="length of each wrk run (10; 3 with --quick)")
    parser.add_argument("--write-seconds", type=float, default=30,
                        help="search this long without, then with one committed change a second (bench/writes.py; 0: skip)")
    args = parser.parse_args(argv)

    queries = 150 if args.quick else 600
    naive_count = 4 if args.quick else (10 if args.clinics <= 200_000 else 4)
    http_seconds = args.http_seconds or (3 if args.quick else 10)

    built = ensure_database(args.engine, args.clinics, args.rebuild)
    if args.http_only:
        log(f"serving {args.clinics:,} clinics on {args.engine}; wrk {httpload.THREADS}x{httpload.CONNECTIONS}, "
            f"{http_seconds} s each")
        http = httpload.measure(built["url"], http_seconds, args.engine)
        print(json.dumps(http, indent=2))
        print("\n".join(f"{metric:<34} {value}  {goal} {'' if met is None else ('met' if met else 'MISSED')}"
                        for metric, value, goal, met in httpload.rows(http)))
        return 0
    from kapfinder.db import configure_engine
    from kapfinder.models import utcnow

    engine = create_engine(built["url"])
    configure_engine(engine)
    now = utcnow()
    with Session(engine) as session:
        mix = query_mix(session, queries)
        log(f"timing the search service on {len(mix)} queries")
        service, pages, service_times = time_service(session, mix, now)
        log(f"timing the naive baseline on {naive_count} of them")
        naive = time_naive(session, mix, pages, service_times, naive_count, now)
    engine.dispose()
    naive_ratio = naive["ratio"]
    writes_result: dict = {"skipped": "--write-seconds 0"}
    if args.write_seconds > 0:
        from bench import writes

        log(f"searching {args.write_seconds:g} s without writes, then as long with one change a second")
        writes_result = writes.measure(built["url"], mix, now, args.write_seconds)

    http: dict = {"skipped": "--no-http"}
    if not args.no_http:
        log(f"serving with gunicorn and measuring with wrk ({http_seconds} s each; bench/httpload.py)")
        http = httpload.measure(built["url"], http_seconds, args.engine)

    results = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "engine": args.engine, "clinics": args.clinics, "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "load": {k: built[k] for k in ("load_s", "migrate_s", "built_at", "cached", "seed")},
        "service": service, "naive": naive, "naive_ratio": naive_ratio, "http": http, "writes": writes_result,
        "targets": {"p99_ms": _target("p99_ms", args.clinics), "naive_ratio": TARGETS["naive_ratio"],
                    "api_vs_healthz": TARGETS["api_vs_healthz"], "load_s": _target("load_s", args.clinics),
                    "worker_rss_mb": TARGETS["worker_rss_mb"]},
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    tag = f"{args.engine}-{args.clinics}{'-quick' if args.quick else ''}"
    (RESULTS / f"{tag}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(report(results))
    log(f"wrote {RESULTS / 'latest.json'} and {RESULTS / (tag + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
