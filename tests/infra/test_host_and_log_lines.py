"""Issue 16 through a real gunicorn, as production runs it: a Host outside TRUSTED_HOSTS gets a plain
400 with every security header and one log line; a %0a in a path forges no line in the access log
or the request log."""
from __future__ import annotations

import http.client
import re

from .servers import free_port, gunicorn_command, server, server_env

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options",
                    "Permissions-Policy")


def raw_get(port: int, path: str, host: str) -> tuple[int, dict[str, str], str]:
    """A GET with exactly this path and Host header (urllib would tidy both)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        connection.close()


def test_an_untrusted_host_gets_a_plain_400_and_one_log_line(migrated, instance_path, tmp_path):
    env = server_env(migrated, instance_path, KAPFINDER_TRUSTED_HOSTS="kapfinder.example,127.0.0.1")
    port = free_port()
    paths = ["/", "/search?location=78701", "/clinic/some-clinic", "/account/sign-in", "/owner/", "/about",
             "/static/css/site.css", "/api/v1/clinics"]
    with server(gunicorn_command(port), env, port, tmp_path / "g.log") as running:
        before = len(running.log().splitlines())
        for path in paths:
            status, headers, body = raw_get(port, path, "evil.example")
            assert status == 400, (path, body[:300])
            for name in SECURITY_HEADERS:
                assert headers.get(name), (path, name)
            if path.startswith("/api/"):
                assert '"invalid_parameter"' in body
            else:
                assert headers["Content-Type"].startswith("text/html")
                assert "does not answer to that address" in body and "evil.example" not in body
        assert raw_get(port, "/about", "kapfinder.example")[0] == 200
    lines = running.log().splitlines()[before:]
    assert "Traceback" not in "\n".join(lines)
    for path in paths:
        assert [line for line in lines if f" {path.split('?')[0]} 400 " in line] != [], path
    # One line per refused request (the request log's), one for the trusted request, and the lines
    # gunicorn writes when it stops.
    request_lines = [line for line in lines if re.search(r" GET \S+ \d{3} ", line)]
    assert len(request_lines) == len(paths) + 1
    assert len(lines) - len(request_lines) < 10, "\n".join(lines)


FORGED = "/search%0a[01/Jan/2020:10:00:00%20+0000]%20GET%20/account/%20200%200%201ms%0d%1b[2J"


def test_a_newline_in_the_path_forges_no_log_line(migrated, instance_path, tmp_path):
    env = server_env(migrated, instance_path)
    port = free_port()
    with server(gunicorn_command(port, "--access-logfile", "-"), env, port, tmp_path / "g.log") as running:
        status, _headers, _body = raw_get(port, FORGED + "?location=78701", f"127.0.0.1:{port}")
        assert status == 404
    log = running.log()
    # No line of the log starts with the forged text, and no terminal escape reaches it...
    assert not any(line.startswith("[01/Jan/2020") for line in log.splitlines())
    assert "\x1b" not in log and "\r" not in log
    # ...both the access log and the request log write it, escaped, on their own line.
    escaped = "/search\\n[01/Jan/2020:10:00:00 +0000] GET /account/ 200 0 1ms\\r\\x1b[2J"
    assert re.search(r"\] GET " + re.escape(escaped) + r" 404 ", log), log  # gunicorn's access log
    assert re.search(r"\d GET " + re.escape(escaped) + r" 404 \d", log), log  # the app's request log
    assert "78701" not in log
