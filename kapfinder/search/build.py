"""Building a search index ``Snapshot`` from the database: the SQL readers, and the build in another
process. No Flask here.

A build reads every published clinic, its insurance rows and at-home states straight from the
driver's cursor (no per-row typing: a build reads millions of rows), on a connection of its own in
one transaction, so the snapshot and the token it was built at agree (``freshness``). A large build
runs in another process, a fork or a fresh interpreter, and only its arrays come back.
"""
from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from .. import vocab
from ..models import Status
from .freshness import Token, read_token
from .index import Coverage, Snapshot
from .plan import AT_HOME, name_key

log = logging.getLogger(__name__)

#: Large builds (``warm``, background rebuilds) run in another process, so their garbage is not ours.
BUILD_APART = True
_FETCH = 50_000
_NO_TIME = np.iinfo(np.int64).min


# --- one snapshot, read on one connection ------------------------------------------------------------

def build_snapshot(conn: Connection, token: Token, only: list[str] | None = None) -> Snapshot:
    """The snapshot of what ``conn`` sees, which is the directory at ``token``; with ``only``, of
    just those clinics (the published ones among them: a ``delta``)."""
    started = time.perf_counter()
    cols = _read_clinics(conn, only)
    ids = cols["id"]
    n = len(ids)
    rank = _tie_ranks(conn, ids, cols["confirmed"])
    # Clinics with coordinates first, by (lat_cell, lon) and point, each point's clinics by rank.
    lat, lon = cols["lat"], cols["lon"]
    has_point = ~np.isnan(lat)
    cell = np.where(has_point, np.floor(np.nan_to_num(lat)), 10_000).astype(np.int64)
    vectors = [np.nan_to_num(cols[k]) for k in ("lat", "ux", "uy", "uz")]
    order = np.lexsort((rank, *reversed(vectors), np.nan_to_num(lon), cell))
    del vectors
    rank = rank[order].astype(np.int32)
    located = int(np.count_nonzero(has_point))
    point_cols = [cols[k][order[:located]] for k in ("lat", "lon", "ux", "uy", "uz")]
    if located:  # a point starts wherever the coordinates change
        starts = np.flatnonzero(np.r_[True, np.logical_or.reduce([c[1:] != c[:-1] for c in point_cols])])
    else:
        starts = np.empty(0, dtype=np.int64)
    points = [np.ascontiguousarray(c[starts]) for c in point_cols]
    point_start = np.r_[starts, located].astype(np.int64)
    del point_cols, starts
    filters = {key: np.ascontiguousarray(cols[key][order])
               for key in ("settings", "methods", "conditions", "accepting", "languages")}
    sorted_ids = ids[order]
    confirmed = cols["confirmed"][order]
    services = cols["services"][order]  # read once, to keep only coverage of offered services
    where = np.empty(n, dtype=np.int64)  # where[row read] = position in the index
    where[order] = np.arange(n)
    home_names = {int(where[row]): name for row, name in cols["home_names"]}
    del cols, cell, has_point, order, where
    by_id = np.argsort(sorted_ids, kind="stable")  # finding a clinic id's position: binary search
    locate = _Locator(sorted_ids[by_id], by_id)
    carriers = _read_insurance(conn, locate, services, n, only)
    at_home = _read_at_home(conn, locate, home_names, sorted_ids, confirmed, only)
    del locate, services
    snapshot = Snapshot(token, ids=sorted_ids, rank=rank, points=points, point_start=point_start, **filters,
                        carriers=carriers, at_home=at_home)
    snapshot.confirmed = confirmed
    snapshot.by_id = by_id.astype(np.int32)
    snapshot.built_s = time.perf_counter() - started
    return snapshot


class _Locator:
    """Clinic ids (bytes) to index positions, vectorised."""

    def __init__(self, sorted_ids: np.ndarray, positions: np.ndarray):
        self.sorted_ids, self.positions = sorted_ids, positions

    def __call__(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(positions, found): positions of ``ids``; found is false for ids not in the index."""
        wanted = np.array(ids, dtype="U36").astype("S36")
        if not len(self.sorted_ids):
            return np.zeros(len(wanted), dtype=np.int64), np.zeros(len(wanted), dtype=bool)
        at = np.searchsorted(self.sorted_ids, wanted)
        at[at == len(self.sorted_ids)] = 0
        return self.positions[at], self.sorted_ids[at] == wanted



def _tie_ranks(conn: Connection, ids: np.ndarray, confirmed: np.ndarray) -> np.ndarray:
    """Each clinic's place in the order that settles distance ties: ``confirmed_at`` newest first
    (none last), then name (``name_key``), then id. Names are read only for clinics whose
    confirmation time another clinic shares."""
    newest_first = np.where(confirmed == _NO_TIME, np.iinfo(np.int64).max, -confirmed)
    order = np.lexsort((ids, newest_first))
    keys = newest_first[order]
    same = keys[1:] == keys[:-1]
    if same.any():
        tied = np.flatnonzero(np.r_[same, False] | np.r_[False, same])  # places in ``order``
        tied_ids = [v.decode() for v in ids[order[tied]].tolist()]
        names = _names(conn, tied_ids)
        settled = sorted(range(len(tied)), key=lambda i: (int(keys[tied[i]]), name_key(names[tied_ids[i]]),
                                                         tied_ids[i]))
        order[tied] = order[tied[settled]]
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank


def _names(conn: Connection, ids: list[str]) -> dict[str, str]:
    stmt = text("SELECT id, name FROM clinic WHERE id IN :ids").bindparams(bindparam("ids", expanding=True))
    names: dict[str, str] = {}
    for i in range(0, len(ids), 10_000):
        names.update(conn.execute(stmt, {"ids": ids[i:i + 10_000]}).all())
    return names


def _stream(conn: Connection, sql: str, only: list[str] | None = None, key: str = "clinic_id") -> Iterator[list[tuple]]:
    """Rows of ``sql`` in batches, straight from the driver's cursor (no per-row typing: a build
    reads millions of rows), in the connection's transaction; server-side on PostgreSQL. With
    ``only``, just the rows whose ``key`` is one of those clinic ids (``sql`` has a WHERE clause),
    through an ordinary cursor: a delta reads a few hundred clinics, quicker without a portal."""
    if only is not None:
        stmt = text(f"{sql} AND {key} IN :only").bindparams(bindparam("only", expanding=True))
        for i in range(0, len(only), 500):
            rows = [tuple(row) for row in conn.execute(stmt, {"only": only[i:i + 500]})]
            if rows:
                yield rows
        return
    raw = conn.connection.dbapi_connection
    cursor = raw.cursor(name="kapfinder_search_index") if conn.dialect.name == "postgresql" else raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(_FETCH):
            yield rows
    finally:
        cursor.close()


def _confirmed_sql(dialect: str) -> str:
    # Microseconds since the epoch, exactly: PostgreSQL computes them; SQLite's naive ISO text is
    # parsed by numpy below.
    if dialect == "postgresql":
        return "(EXTRACT(EPOCH FROM confirmed_at) * 1000000)::bigint"
    return "confirmed_at"


#: Coordinates the index reads (NULL becomes NaN).
_FLOATS = ("lat", "lon", "ux", "uy", "uz")
#: Bit-mask columns the index reads: key -> (column, vocabulary sizing the array). A new filter
#: column is one more entry here (and a filter in ``index``).
_MASKS = {"settings": ("settings_mask", vocab.SETTINGS), "methods": ("methods_mask", vocab.METHODS),
          "conditions": ("conditions_mask", vocab.CONDITIONS), "services": ("services_mask", vocab.SERVICES),
          "languages": ("(languages_mask | interpreter_languages_mask)", vocab.LANGUAGES)}


def _clinic_columns(dialect: str) -> list[tuple[str, str]]:
    """(key, SQL expression) of every clinic column the index reads, in SELECT order."""
    return [("id", "id"), *((k, k) for k in _FLOATS), *((k, column) for k, (column, _v) in _MASKS.items()),
            ("accepting", "accepting_new_patients"), ("confirmed", _confirmed_sql(dialect)),
            ("home_name", f"CASE WHEN (settings_mask & {AT_HOME}) <> 0 THEN name END")]


def _read_clinics(conn: Connection, only: list[str] | None = None) -> dict[str, Any]:
    dialect = conn.dialect.name
    columns = _clinic_columns(dialect)
    parts: dict[str, list[np.ndarray]] = {k: [] for k, _sql in columns if k != "home_name"}
    home_names: list[tuple[int, str]] = []  # (row, name) of at-home programmes, to order them by name
    sql = (f"SELECT {', '.join(expr for _k, expr in columns)} "
           f"FROM clinic WHERE status = '{Status.PUBLISHED}'")
    seen = 0
    for rows in _stream(conn, sql, only, key="id"):
        values = dict(zip((k for k, _sql in columns), zip(*rows)))
        parts["id"].append(np.array(values["id"], dtype="U36").astype("S36"))
        for key in _FLOATS:
            parts[key].append(np.array(values[key], dtype=np.float64))  # None becomes NaN
        for key in _MASKS:
            parts[key].append(np.array([v or 0 for v in values[key]], dtype=np.int64))
        parts["accepting"].append(np.array([1 if v else 0 for v in values["accepting"]], dtype=np.uint8))
        confirmed = values["confirmed"]
        if dialect == "postgresql":
            parts["confirmed"].append(np.array([_NO_TIME if v is None else v for v in confirmed], dtype=np.int64))
        else:
            parts["confirmed"].append(np.array(confirmed, dtype="datetime64[us]").astype(np.int64))  # NULL: NaT
        home_names.extend((seen + i, name) for i, name in enumerate(values["home_name"]) if name is not None)
        seen += len(rows)
    out: dict[str, Any] = {}
    for key, chunks in parts.items():
        out[key] = np.concatenate(chunks) if chunks else np.empty(0, dtype="S36" if key == "id" else np.float64)
    for key, (_column, vocabulary) in _MASKS.items():
        out[key] = out[key].astype(_mask_dtype(len(vocabulary.slugs)))
    out["accepting"] = out["accepting"].astype(np.uint8)
    out["confirmed"] = out["confirmed"].astype(np.int64)
    out["home_names"] = home_names
    return out


def _mask_dtype(bits: int):
    return np.uint8 if bits <= 8 else np.uint16 if bits <= 16 else np.uint32 if bits <= 32 else np.uint64


def _read_insurance(conn: Connection, locate: _Locator, services: np.ndarray,
                    n: int, only: list[str] | None = None) -> dict[str, Coverage]:
    """Per carrier, every clinic's coverage of offered services; rows of clinics that are not
    published are dropped by ``locate`` (no join needed)."""
    carriers = vocab.CARRIERS.slugs
    carrier_code = {slug: i for i, slug in enumerate(carriers)}
    service_index = {slug: i for i, slug in enumerate(vocab.SERVICES.slugs)}
    networks = "', '".join(vocab.NETWORKS.slugs)
    parts_code, parts_pos, parts_bits = [], [], []
    sql = ("SELECT carrier, clinic_id, service, plan_types_mask FROM clinic_insurance "
           f"WHERE network IN ('{networks}')")
    for rows in _stream(conn, sql, only):
        carrier, clinic_id, service, plans = zip(*rows)
        code = np.array([carrier_code.get(c, -1) for c in carrier], dtype=np.int16)
        svc = np.array([service_index.get(s, -1) for s in service], dtype=np.int16)
        pos, found = locate(clinic_id)
        plan_bits = np.array([p or 0 for p in plans], dtype=np.uint32) & 0xFF
        plan_bits[plan_bits == 0] = 0xFF
        ok = found & (code >= 0) & (svc >= 0)
        ok &= (services[pos].astype(np.uint32) & (1 << np.clip(svc, 0, 31)).astype(np.uint32)) != 0  # offered
        parts_code.append(code[ok])
        parts_pos.append(pos[ok])
        parts_bits.append(plan_bits[ok] << (8 * svc[ok]).astype(np.uint32))
    out: dict[str, Coverage] = {}
    if not parts_code:
        return out
    code, pos, bits = np.concatenate(parts_code), np.concatenate(parts_pos), np.concatenate(parts_bits)
    del parts_code, parts_pos, parts_bits
    order = np.lexsort((pos, code))
    code, pos, bits = code[order], pos[order], bits[order]
    del order
    for i, slug in enumerate(carriers):
        lo, hi = np.searchsorted(code, i, side="left"), np.searchsorted(code, i, side="right")
        if lo == hi:
            continue
        p, b = pos[lo:hi], bits[lo:hi]
        starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
        out[slug] = Coverage.of(n, p[starts], np.bitwise_or.reduceat(b, starts))
    return out


def _read_at_home(conn: Connection, locate: _Locator, home_names: dict[int, str], ids: np.ndarray,
                  confirmed: np.ndarray, only: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per state: positions of the published at-home programmes serving it, in (name, id) order."""
    per_state: dict[str, list[int]] = {}
    for rows in _stream(conn, "SELECT state, clinic_id FROM clinic_at_home_state WHERE 1 = 1", only):
        states, clinic_ids = zip(*rows)
        pos, found = locate(clinic_ids)
        for state, p, ok in zip(states, pos.tolist(), found.tolist()):
            if ok and p in home_names:
                per_state.setdefault(state, []).append(p)
    out = {}
    for state, positions in per_state.items():
        positions.sort(key=lambda p: (name_key(home_names[p]), ids[p]))
        pos = np.array(positions, dtype=np.int32)
        out[state] = (pos, confirmed[pos])
    return out


# --- where a build runs ------------------------------------------------------------------------------

def _build_here(engine: Engine) -> Snapshot:
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():  # one snapshot: the token and the rows agree
            return build_snapshot(conn, read_token(conn))


def _build_apart(engine: Engine) -> Snapshot:
    """Build in another process and take the finished arrays back through a pipe.

    A build reads every published clinic as Python objects: at a million clinics that is ~500 MB
    for some seconds, and the allocator keeps tens of megabytes of it afterwards (a gunicorn
    master would hand those pages to every worker it forks). Another process's garbage ends with
    it. A single-threaded process (gunicorn's master, a command) forks; a process with threads (a
    worker) starts a fresh interpreter instead, since a fork could inherit a lock another thread
    holds (SQLite's among them)."""
    if threading.active_count() == 1 and hasattr(os, "fork"):
        return _build_in_fork(engine)
    url = engine.url.render_as_string(hide_password=False)
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    entry = "from kapfinder.search.build import build_to_stdout; build_to_stdout()"
    done = subprocess.run([sys.executable, "-c", entry], input=url.encode(), capture_output=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"search index: the build process failed: {done.stderr.decode(errors='replace')[-2000:]}")
    return pickle.loads(done.stdout)


def build_to_stdout() -> None:
    """The build process's side of ``_build_apart``: the database URL on stdin, the snapshot on stdout."""
    from sqlalchemy import create_engine

    from ..db import configure_engine

    engine = create_engine(sys.stdin.read().strip())
    configure_engine(engine)
    snapshot = _build_here(engine)
    engine.dispose()
    pickle.dump(snapshot, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()


def _build_in_fork(engine: Engine) -> Snapshot:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: build, send, leave without running the parent's clean-up
        code = 1
        try:
            os.close(read_end)
            engine.dispose(close=False)  # the parent's pooled connections stay the parent's
            with os.fdopen(write_end, "wb") as out:
                pickle.dump(_build_here(engine), out, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        except BaseException:  # noqa: BLE001 - reported by the parent as a failed build
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as received:
        data = received.read()
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:  # reaped by someone else's SIGCHLD handler: the data tells
        pass
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise RuntimeError("search index: the build process sent no index (see its traceback above)") from exc


def build(engine: Engine, apart: bool = False) -> Snapshot:
    """A snapshot of the directory as it is now, built here or (``apart``) in another process."""
    snapshot = _build_apart(engine) if apart and BUILD_APART else _build_here(engine)
    log.info("search index: %d published clinics in %.2f s (generation %s)", snapshot.n, snapshot.built_s,
             snapshot.token[1])
    return snapshot

