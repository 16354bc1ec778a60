"""A real gunicorn, as kapfinder ships it, against abusive clients: chunked bodies over the size
limit are refused without being read on, and slow clients cannot starve a normal search."""
from __future__ import annotations

import socket

from .servers import gunicorn_command, free_port, server, server_env

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
