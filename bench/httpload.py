"""kapfinder HTTP load (part of `make bench`): the app served with gunicorn, measured with wrk.

    .venv/bin/python bench/run.py --http-only [--clinics 100000] [--engine sqlite|postgres] [--http-seconds 10]

Serves the app as production does (`gunicorn -c gunicorn.conf.py app:app`, worker recycling off)
on a loopback port against the benchmark database (bench/run.py builds and caches it), and measures
with wrk, 2 threads x 32 connections, in one run:

1. /healthz (the stack's own limit: routing, headers, log line, one `SELECT 1`) and
2. the headline: /api/v1/clinics with "Cache-Control: no-cache" over 20,000 distinct queries
   (ZIP centroids, radii 10-250 mi, a third with a method, a third with a carrier), every request
   searched afresh, as real traffic of many ZIPs x radii x filters mostly is; the two alternate in
   3 rounds of a third of --seconds each, so a neighbour's load on a shared machine weighs on both
   alike (each round's figure is reported, with the load average);
3. beside it, labelled "cached": the same endpoint as served, over 200 queries repeated, which the
   response cache answers after their first time.

Each wrk thread, and each round, starts at its own place in the list of queries, so no query is
asked twice unless a thread makes more than 3,333 requests in a round. bench/run.py reports its dict (`--http-only`: this part alone).
"""
from __future__ import annotations

import json
import os
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
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH = ROOT / "bench"
CACHE = BENCH / "cache"
VENV_BIN = ROOT / ".venv" / "bin"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
QUERY_SEED = 20261206
RADII = (10, 25, 50, 100, 250)
DISTINCT = 20_000
WARM_UP = 2_000  # more distinct queries, for a 2 s warm-up of the workers before the timed rounds
REPEATED = 200
THREADS, CONNECTIONS = 2, 32
ROUNDS = 3
GOALS = {"sqlite": 0.5, "postgresql": 0.4, "postgres": 0.4}


def log(message: str) -> None:
    print(f"[httpload {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the queries ---------------------------------------------------------------------------------------

def distinct_queries(url: str, count: int = DISTINCT) -> list[str]:
    """``count`` distinct /api/v1/clinics paths, seeded: ZIPs weighted as people (and the sample
    clinics) are, radii 10-250 mi, a third with a method, a third with a carrier."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from kapfinder import sample, vocab

    engine = create_engine(url)
    try:
        with Session(engine) as session:
            zips = sample.standard_zips(session)
    finally:
        engine.dispose()
    weights = [z.weight for z in zips]
    rng = random.Random(QUERY_SEED)
    seen: dict[str, None] = {}
    i = 0
    while len(seen) < count:
        z = rng.choices(zips, weights=weights)[0]
        args = {"location": z.zip, "radius": str(rng.choice(RADII))}
        if i % 3 == 1:
            args["method"] = rng.choice(vocab.METHODS.slugs)
        elif i % 3 == 2:
            args["insurance"] = rng.choice(vocab.CARRIERS.slugs)
        i += 1
        seen.setdefault(f"/api/v1/clinics?{urlencode(args)}")
    return list(seen)


def lua_script(path: Path, paths: list[str], headers: dict[str, str] | None) -> Path:
    """A wrk script cycling through ``paths``; thread k starts k/threads of the way along."""
    lua_headers = "nil" if not headers else "{" + ", ".join(
        f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()) + "}"
    path.write_text(
        "local paths = {\n" + ",\n".join(json.dumps(p) for p in paths) + "\n}\n"
        f"local headers = {lua_headers}\n"
        "local counter = 0\n"
        "function setup(thread)\n  thread:set(\"tid\", counter)\n  counter = counter + 1\nend\n"
        "function init(args)\n"
        f"  i = math.floor((tid or 0) * #paths / {THREADS}) + tonumber(args[1] or \"0\")\nend\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i], headers)\nend\n")
    return path


# --- the server -------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds these processes have used (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def worker_pids(master_pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master_pid)], capture_output=True, text=True).stdout
    return [int(v) for v in out.split() if v.isdigit()]


def memory_mb(pid: int, field: str) -> float | None:
    """A field of /proc/PID/smaps_rollup in MB: Rss (every resident page, shared ones too) or Pss
    (each shared page divided among the processes sharing it)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


@contextmanager
def served(url: str, extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, subprocess.Popen, list[str]]]:
    """gunicorn with gunicorn.conf.py (worker recycling off) on a free loopback port, once it
    answers /healthz: (base URL, the master process, the command)."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "KAPFINDER_ENV": "production", "KAPFINDER_SECRET_KEY": secrets.token_urlsafe(48),
           "KAPFINDER_DATABASE_URL": url, "KAPFINDER_BASE_URL": base, "PYTHONUNBUFFERED": "1",
           **(extra_env or {})}
    for name in ("KAPFINDER_READ_RATE_LIMIT", "KAPFINDER_TRUSTED_HOSTS", "FLASK_DEBUG"):
        env.pop(name, None)
    gunicorn = str(VENV_BIN / "gunicorn") if (VENV_BIN / "gunicorn").exists() else "gunicorn"
    # The production settings, except worker recycling: a worker restarting every 20,000 requests
    # would measure start-up time rather than serving.
    cmd = [gunicorn, "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{port}", "--max-requests", "0", "app:app"]
    CACHE.mkdir(parents=True, exist_ok=True)
    server_log = CACHE / "gunicorn.log"
    with server_log.open("w") as log_file:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}; see {server_log}")
            try:
                if get(base + "/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer /healthz within 120 s; see {server_log}")
            time.sleep(0.3)
        yield base, proc, cmd
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- wrk ------------------------------------------------------------------------------------------------

def wrk(url: str, seconds: float, script: Path | None = None, start: int = 0) -> dict:
    """One wrk run; ``start``: how far along the script's list each thread begins."""
    cmd = [WRK, f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{int(seconds)}s", "--timeout", "10s", "--latency"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script:
        cmd += ["--", str(start)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60).stdout
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


def scripts_for(url: str) -> dict[str, Path]:
    """The two wrk scripts: distinct no-cache queries (the headline) and repeated cached ones."""
    CACHE.mkdir(parents=True, exist_ok=True)
    every = distinct_queries(url, DISTINCT + WARM_UP)
    paths, warm = every[:DISTINCT], every[DISTINCT:]
    return {"paths": paths,
            "no_cache": lua_script(CACHE / "api_distinct_no_cache.lua", paths, {"Cache-Control": "no-cache"}),
            "warm_up": lua_script(CACHE / "api_warm_up.lua", warm, {"Cache-Control": "no-cache"}),
            "cached": lua_script(CACHE / "api_repeated_cached.lua", paths[:REPEATED], None)}


def measure(url: str, seconds: float, engine: str = "sqlite") -> dict:
    """The whole HTTP measurement (see the module docstring) as one dict; {"skipped": why} when
    wrk is missing or the server does not start."""
    if not Path(WRK).exists():
        return {"skipped": f"wrk not found at {WRK}"}
    scripts = scripts_for(url)
    try:
        with served(url) as (base, proc, cmd):
            statuses = {get(base + p, timeout=30)[0] for p in scripts["paths"][:20]}
            load_before = os.getloadavg()
            # Warm-up: 2 s of searches not in the timed list (each worker's first searches load its
            # ZIP table and fault in the shared index pages), then 1 s of /healthz.
            wrk(base + "/", 2, scripts["warm_up"])
            wrk(base + "/healthz", 1)
            # /healthz and the no-cache search alternate in ROUNDS short runs, so a neighbour's
            # load on this shared machine weighs on both alike.
            segment = max(2, round(seconds / ROUNDS))
            healthz_runs, fresh_runs = [], []
            pids = worker_pids(proc.pid)
            cpu = {"healthz": 0.0, "api": 0.0}
            for n in range(ROUNDS):  # each round starts further along: no query is asked twice
                before = cpu_seconds(pids)
                healthz_runs.append(wrk(base + "/healthz", segment))
                middle = cpu_seconds(pids)
                fresh_runs.append(wrk(base + "/", segment, scripts["no_cache"],
                                      start=n * len(scripts["paths"]) // (THREADS * ROUNDS)))
                cpu["healthz"] += middle - before
                cpu["api"] += cpu_seconds(pids) - middle
            cached = wrk(base + "/", seconds, scripts["cached"])
            load_after = os.getloadavg()
            workers = worker_pids(proc.pid)
            rss = [memory_mb(pid, "Rss") for pid in workers]
            pss = [memory_mb(pid, "Pss") for pid in workers]
            master_rss = memory_mb(proc.pid, "Rss")
            command = " ".join(cmd[:-1]).replace(str(VENV_BIN) + "/", "") + " app:app"
    except RuntimeError as exc:
        return {"skipped": str(exc)}
    healthz, fresh = _combined(healthz_runs), _combined(fresh_runs)
    healthz_rps = healthz["rps"]
    # CPU the workers spent per request: far steadier than req/s on a shared machine, and its ratio
    # is what req/s would give where the workers had the cores to themselves.
    cpu_ms = {k: round(cpu[k] * 1000 / n, 3) if n else None
              for k, n in (("healthz", healthz["requests"]), ("api", fresh["requests"]))}
    cpu_ratio = round(cpu_ms["healthz"] / cpu_ms["api"], 3) if cpu_ms["healthz"] and cpu_ms["api"] else None

    def ratio(result: dict) -> float | None:
        return round(result["rps"] / healthz_rps, 3) if result["rps"] is not None and healthz_rps else None

    return {"command": command, "seconds": seconds, "threads": THREADS, "connections": CONNECTIONS,
            "distinct_queries": len(scripts["paths"]), "repeated_queries": REPEATED,
            "api_sample_statuses": sorted(statuses), "load_average": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in load_after],
            "rounds": ROUNDS, "segment_seconds": segment,
            "healthz": healthz, "healthz_rps": round(healthz_rps or 0, 1),
            "api_no_cache": fresh, "api": cached,
            "worker_cpu_ms_per_request": cpu_ms, "cpu_ratio_no_cache": cpu_ratio,
            "ratio_no_cache": ratio(fresh), "ratio": ratio(cached), "goal_no_cache": GOALS.get(engine, 0.5),
            "worker_rss_mb": rss, "worker_pss_mb": pss, "master_rss_mb": master_rss}


def _combined(runs: list[dict]) -> dict:
    """Equal-length wrk runs as one: mean req/s, summed counts, the median p50 and the worst p99;
    each run's req/s kept under ``rounds``."""
    rates = [r["rps"] for r in runs if r["rps"] is not None]
    p50 = sorted(r["latency_p50_ms"] for r in runs if "latency_p50_ms" in r)
    p99 = [r["latency_p99_ms"] for r in runs if "latency_p99_ms" in r]
    return {"rps": round(sum(rates) / len(rates), 1) if rates else None,
            "requests": sum(r["requests"] or 0 for r in runs), "non_2xx": sum(r["non_2xx"] for r in runs),
            "socket_errors": sum(r["socket_errors"] for r in runs),
            **({"latency_p50_ms": p50[len(p50) // 2]} if p50 else {}),
            **({"latency_p99_ms": max(p99)} if p99 else {}), "rounds": [r["rps"] for r in runs]}


def _num(value, digits: int = 0) -> str:
    return "?" if value is None else f"{value:,.{digits}f}"


def rows(http: dict) -> list[tuple[str, str, str, bool | None]]:
    """(metric, value, goal, met) rows for a report."""
    if "skipped" in http:
        return [("HTTP", http["skipped"], "", None)]
    fresh, cached = http["api_no_cache"], http["api"]
    goal = http.get("goal_no_cache", 0.5)
    out: list[tuple[str, str, str, bool | None]] = [
        ("/healthz", f"{_num(http['healthz']['rps'])} req/s (rounds: "
         f"{', '.join(_num(v) for v in http['healthz']['rounds'])}; load average {http['load_average'][0]:.2f})",
         "", None),
        (f"API no-cache, {http['distinct_queries']:,} distinct",
         f"{_num(fresh['rps'])} req/s = {_num(http['ratio_no_cache'], 3)}x healthz "
         f"(rounds: {', '.join(_num(v) for v in fresh['rounds'])}; p50 {fresh.get('latency_p50_ms', '?')} ms, "
         f"p99 {fresh.get('latency_p99_ms', '?')} ms, {fresh['non_2xx']} non-2xx, {fresh['socket_errors']} socket errors)",
         f">= {goal}x", http["ratio_no_cache"] is not None and http["ratio_no_cache"] >= goal),
        ("worker CPU per request, healthz / API no-cache",
         f"{http['worker_cpu_ms_per_request']['healthz']} / {http['worker_cpu_ms_per_request']['api']} ms "
         f"= {_num(http['cpu_ratio_no_cache'], 3)}x (the ratio with the cores to themselves)", "", None),
        (f"API cached ({http['repeated_queries']} repeated)",
         f"{_num(cached['rps'])} req/s = {_num(http['ratio'], 3)}x healthz "
         f"(p99 {cached.get('latency_p99_ms', '?')} ms, {cached['non_2xx']} non-2xx)", "", None),
    ]
    return out
