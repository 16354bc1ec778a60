"""Real server processes on loopback ports, for the plumbing tests."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# A database number of its own, flushed before and after: the dev server's keys (db 0) are safe.
TEST_REDIS_URL = os.environ.get("KAPFINDER_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")

# Production refuses any key printed in the repository: each run makes its own.
PRODUCTION_KEY = secrets.token_urlsafe(48)

# A test-only app: kapfinder's own factory and limiter, plus one rate-limited route. Under /api/
# so the 429 is the JSON error every API client gets.
LIMITED_APP = '''
from kapfinder import create_app
from kapfinder.extensions import limiter
from kapfinder.serving import configure

app = create_app()
configure(app)

@app.get("/api/test-only/limited")
@limiter.limit("3 per minute")
def limited():
    return {"ok": True}
'''

def early_in_a_minute(needed: float = 20.0) -> None:
    """Wait, if need be, for a clock minute with ``needed`` seconds left.

    Rate-limit windows are fixed and aligned to the clock minute (kapfinder/throttle.py, and
    Flask-Limiter's fixed window): attempts that straddle a minute boundary are counted in two
    windows, so a test that counts to a limit starts early in a minute, however slow the machine.
    """
    left = 60.0 - time.time() % 60.0
    if left < needed:
        time.sleep(left + 0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.read().decode()

class Server:
    def __init__(self, process: subprocess.Popen, port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        return get(self.base + path, headers)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

@contextmanager
def server(command: list[str], env: dict[str, str], port: int, log_path: Path, cwd: Path = ROOT):
    """Run a server in its own process group; wait until it answers /healthz; stop it after."""
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    running = Server(process, port, log_path)
    try:
        deadline = time.monotonic() + 60  # start-up wait, not an assertion on speed
        while True:
            if process.poll() is not None:
                raise AssertionError(f"server exited with {process.returncode}:\n{running.log()}")
            try:
                status, _ = running.get("/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server did not answer in time:\n{running.log()}")
            time.sleep(0.2)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

def server_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAPFINDER_", "FLASK_"))}
    env.update(
        KAPFINDER_ENV="production",
        KAPFINDER_SECRET_KEY=PRODUCTION_KEY,
        KAPFINDER_DATABASE_URL=database_url,
        KAPFINDER_INSTANCE_PATH=str(instance),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(instance)]),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env

def gunicorn_command(port: int, *extra: str, app: str = "app:app") -> list[str]:
    return [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
            "--workers", "1", *extra, app]


class Browser:
    """A cookie-keeping HTTP client (like one visitor's browser) that can talk to several servers."""

    def __init__(self) -> None:
        import http.cookiejar

        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str]:
        import urllib.parse

        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(urllib.request.Request(url, data=data), timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            with err:
                return err.code, err.read().decode()
