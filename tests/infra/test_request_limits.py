"""A real gunicorn, as kapfinder ships it, against abusive clients: chunked bodies over the size
limit are refused without being read on, and slow clients cannot starve a normal search."""
from __future__ import annotations

import socket
import threading
import time

from .servers import ROOT, VENV_BIN, free_port, gunicorn_command, server, server_env

ECHO_APP = '''
from flask import request
from kapfinder import create_app
from kapfinder.extensions import csrf

app = create_app()

@app.post("/api/test-only/echo-size")
@csrf.exempt
def echo_size():
    return {"bytes": len(request.get_data())}
'''


def _chunked_post(port: int, path: str, body_bytes: int, finish: bool) -> bytes:
    """POST a chunked body of ``body_bytes``; with ``finish=False`` the body never ends (the
    client keeps the connection open, waiting), so only a server that stops reading can answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/x-www-form-urlencoded\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 65536
        sent = 0
        while sent < body_bytes:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        if finish:
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith((b"}", b"</html>")):
            part = sock.recv(65536)
            if not part:
                break
            answer += part
        return answer


def test_a_chunked_body_over_max_content_length_is_refused_with_413(migrated, instance_path, tmp_path):
    (instance_path / "echo_app.py").write_text(ECHO_APP)
    env = server_env(migrated, instance_path, KAPFINDER_MAX_CONTENT_LENGTH=str(256 * 1024))
    port = free_port()
    with server(gunicorn_command(port, app="echo_app:app"), env, port, tmp_path / "g.log"):
        # Within the limit, a chunked body is read whole.
        answer = _chunked_post(port, "/api/test-only/echo-size", 128 * 1024, finish=True)
        assert answer.startswith(b"HTTP/1.1 200") and b'"bytes":131072' in answer.replace(b" ", b"")
        # Over it: 413, answered while the client is still sending (it never finishes).
        answer = _chunked_post(port, "/api/test-only/echo-size", 320 * 1024, finish=False)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b'"payload_too_large"' in answer
        # An HTML form too, before its CSRF check reads the form.
        answer = _chunked_post(port, "/account/sign-in", 320 * 1024, finish=False)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


class SlowClients:
    """``count`` connections that trickle their request a byte or a header line at a time: half
    never finish their headers, half never finish a declared body."""

    def __init__(self, port: int, count: int) -> None:
        self.socks = []
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % 2:
                sock.sendall(b"GET /search?location=78701 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            else:
                sock.sendall(b"POST /account/sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n")
            self.socks.append(sock)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stop.wait(0.5):
            for n, sock in enumerate(self.socks):
                try:
                    sock.sendall(b"X-Slow: 1\r\n" if n % 2 else b"e")
                except OSError:
                    pass

    def still_connected(self) -> int:
        alive = 0
        for sock in self.socks:
            try:
                sock.sendall(b"x")
                alive += 1
            except OSError:
                pass
        return alive

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for sock in self.socks:
            sock.close()


def test_fifty_slow_clients_do_not_keep_a_search_waiting(migrated, instance_path, tmp_path):
    """gunicorn as shipped (gunicorn.conf.py, 2 workers): 50 slow-header and slow-body connections
    are held open while a patient's search is answered at once. (With gunicorn's own gthread
    worker, 10 of them left the search waiting until they gave up.)"""
    env = server_env(migrated, instance_path, WEB_CONCURRENCY="2")
    port = free_port()
    command = [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}",
               "app:app"]
    with server(command, env, port, tmp_path / "g.log") as running:
        assert running.get("/search?location=78701")[0] == 200  # started and warm
        slow = SlowClients(port, 50)
        try:
            time.sleep(1)  # every slow client is connected and trickling
            for _ in range(3):
                started = time.monotonic()
                status, page = running.get("/search?location=78701")
                elapsed = time.monotonic() - started
                assert status == 200 and "78701" in page
                # The issue asks for "within a second"; the bound is generous for a busy test machine.
                assert elapsed < 3, f"a search took {elapsed:.1f} s behind 50 slow clients"
            assert slow.still_connected() == 50  # held open, not simply refused
        finally:
            slow.close()
