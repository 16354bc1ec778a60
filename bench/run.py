"""kapfinder benchmark (`make bench`): sample load, search service latency, naive baseline, HTTP.

    .venv/bin/python bench/run.py [--clinics 100000] [--engine sqlite|postgres] [--quick] [--rebuild]

1. Builds N fictional sample clinics once (`flask db upgrade` + the `flask sample load` code path)
   into bench/cache/ (SQLite) or the database kapfinder_bench on 127.0.0.1:5432 (PostgreSQL), and
   rebuilds only when it is missing, has another size, or the generator/schema code changed.
2. Times `search.search(session, parse_criteria(...))` over a fixed, seeded mix of queries: ZIP
   centroids, radii 10-250 mi, a third with a method filter, a third with an insurance carrier.
3. Times a naive baseline on a subset of that mix: load every published clinic, geopy great_circle
   (radius 6371.0088 km) to each, filter, sort; and checks both give the same totals and first page.
4. Serves the app with gunicorn on a loopback port and measures requests/s of
   /api/v1/clinics?location=... (the same mix) against /healthz with wrk: as served (repeated
   searches come from the response cache) and with "Cache-Control: no-cache" (every request
   searched afresh), plus each worker's memory (resident, and its proportional share).

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
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

BENCH = ROOT / "bench"
CACHE = BENCH / "cache"
RESULTS = BENCH / "results"
VENV_BIN = ROOT / ".venv" / "bin"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
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


# --- HTTP -----------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _worker_pids(master_pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True).stdout
    return [int(v) for v in out.split() if v.isdigit()]


def _memory_mb(pid: int, field: str) -> float | None:
    """A field of /proc/PID/smaps_rollup in MB: Rss (every resident page, shared ones too) or Pss
    (each shared page divided among the processes sharing it)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _wrk(url: str, seconds: int, script: Path | None = None) -> dict:
    cmd = [WRK, "-t2", "-c16", f"-d{seconds}s", "--timeout", "10s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    lat: dict[str, float] = {}
    for p in ("50%", "99%"):
        m = re.search(rf"^\s+{re.escape(p)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m:
            factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            lat[f"latency_p{p[:-1]}_ms"] = round(float(m.group(1)) * factor, 2)
    return {"rps": float(rps.group(1)) if rps else None, "requests": int(total.group(1)) if total else None,
            "non_2xx": int(bad.group(1)) if bad else 0,
            "socket_errors": sum(int(g) for g in errors.groups()) if errors else 0, **lat}


def measure_http(url: str, mix: list[dict], seconds: int) -> dict:
    if not Path(WRK).exists():
        return {"skipped": f"wrk not found at {WRK}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KAPFINDER_ENV": "production", "KAPFINDER_SECRET_KEY": secrets.token_urlsafe(48),
           "KAPFINDER_DATABASE_URL": url, "KAPFINDER_BASE_URL": base, "PYTHONUNBUFFERED": "1"}
    for name in ("KAPFINDER_READ_RATE_LIMIT", "KAPFINDER_TRUSTED_HOSTS", "FLASK_DEBUG"):
        env.pop(name, None)
    gunicorn = str(VENV_BIN / "gunicorn") if (VENV_BIN / "gunicorn").exists() else "gunicorn"
    if (ROOT / "gunicorn.conf.py").exists():
        # The production settings, except worker recycling: a worker restarting every 2,000
        # requests would measure start-up time rather than serving.
        cmd = [gunicorn, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "--max-requests", "0", "app:app"]
    else:
        cmd = [gunicorn, "-w", "2", "-k", "gthread", "-b", f"127.0.0.1:{port}", "app:app"]
    server_log = CACHE / "gunicorn.log"
    with server_log.open("w") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                return {"skipped": f"gunicorn exited with {proc.returncode}; see {server_log}"}
            try:
                if _get(base + "/healthz", timeout=2) == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                return {"skipped": f"gunicorn did not answer /healthz within 60 s; see {server_log}"}
            time.sleep(0.3)

        paths = [f"/api/v1/clinics?{urlencode(args, doseq=True)}" for args in mix[:200]]
        statuses = {_get(base + p, timeout=30) for p in paths[:20]}
        scripts = {}
        for name, headers in (("api_mix", "nil"), ("api_mix_no_cache", '{["Cache-Control"] = "no-cache"}')):
            scripts[name] = CACHE / f"{name}.lua"
            scripts[name].write_text(
                "local paths = {\n" + ",\n".join(json.dumps(p) for p in paths) + "\n}\n"
                "local i = 0\n"
                f"local headers = {headers}\n"
                "request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i], headers)\nend\n")
        # Warm-up: the sequential API calls above, and a second of /healthz. No API load runs
        # before /healthz is measured, so no queued search slows it down.
        _wrk(base + "/healthz", 1)
        healthz = _wrk(base + "/healthz", seconds)
        # As served (repeated searches answered from the response cache), then every request
        # searched afresh ("Cache-Control: no-cache").
        api = _wrk(base + "/", seconds, scripts["api_mix"])
        fresh = _wrk(base + "/", seconds, scripts["api_mix_no_cache"])
        workers = _worker_pids(proc.pid)
        rss = [_memory_mb(pid, "Rss") for pid in workers]
        pss = [_memory_mb(pid, "Pss") for pid in workers]
        command = " ".join(cmd[:-1]).replace(str(VENV_BIN) + "/", "") + " app:app"
        return {"command": command, "seconds": seconds, "connections": 16, "threads": 2,
                "api_sample_statuses": sorted(statuses), "healthz": healthz, "api": api, "api_no_cache": fresh,
                "ratio": round(api["rps"] / healthz["rps"], 3) if api["rps"] is not None and healthz["rps"] else None,
                "ratio_no_cache": (round(fresh["rps"] / healthz["rps"], 3)
                                   if fresh["rps"] is not None and healthz["rps"] else None),
                "worker_rss_mb": rss, "worker_pss_mb": pss, "master_rss_mb": _memory_mb(proc.pid, "Rss")}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
    if "skipped" in http:
        rows.append(_row("HTTP", http["skipped"], "", None))
    else:
        rows.append(_row("/healthz", f"{_num(http['healthz']['rps'])} req/s", "", None))
        rows.append(_row("/api/v1/clinics (as served)", f"{_num(http['api']['rps'])} req/s "
                         f"(p99 {http['api'].get('latency_p99_ms', float('nan'))} ms, "
                         f"{http['api']['non_2xx']} non-2xx, {http['api']['socket_errors']} socket errors)", "", None))
        rows.append(_row("api / healthz", _num(http["ratio"], 3), f">= {TARGETS['api_vs_healthz']}",
                         http["ratio"] is not None and http["ratio"] >= TARGETS["api_vs_healthz"]))
        fresh = http.get("api_no_cache") or {}
        rows.append(_row("/api/v1/clinics, no-cache", f"{_num(fresh.get('rps'))} req/s "
                         f"(p99 {fresh.get('latency_p99_ms', float('nan'))} ms, {fresh.get('non_2xx')} non-2xx; "
                         f"{_num(http.get('ratio_no_cache'), 3)} of healthz)", "", None))
        rss = http["worker_rss_mb"]
        rows.append(_row("gunicorn worker RSS", ", ".join(f"{v:.0f} MB" for v in rss) or "?",
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
    parser.add_argument("--write-seconds", type=float, default=30,
                        help="search this long without, then with one committed change a second (bench/writes.py; 0: skip)")
    args = parser.parse_args(argv)

    queries = 150 if args.quick else 600
    naive_count = 4 if args.quick else (10 if args.clinics <= 200_000 else 4)
    http_seconds = 3 if args.quick else 10

    built = ensure_database(args.engine, args.clinics, args.rebuild)
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
        log(f"serving with gunicorn and measuring with wrk ({http_seconds} s each)")
        http = measure_http(built["url"], mix, http_seconds)

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
