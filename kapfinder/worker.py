"""gunicorn's threaded worker, with each request read in whole before a thread takes it.

gunicorn's ``gthread`` worker hands a connection to one of its threads as soon as the first byte
arrives; the thread then blocks until the request's head and body are in. Ten clients that send a
byte a second (slow headers or slow bodies) held every thread of a 2-worker server, and a patient's
search waited behind them. ``BufferingWorker`` does what a buffering proxy (nginx) does: the
worker's event loop reads each request without blocking into a buffer, and only a complete request
(head, and a body up to ``MAX_CONTENT_LENGTH``) is given to a thread. A slow client costs a buffer,
not a thread, and is dropped when it has not sent its request within ``REQUEST_READ_TIMEOUT``.

Requests larger than the limit are handed over as soon as that is known (the app refuses them with
413). TLS connections (gunicorn's own ``certfile``) are left to ``gthread`` as they are; kapfinder
terminates TLS in the proxy. Used by ``gunicorn.conf.py``: ``worker_class``.
"""
from __future__ import annotations

import re
import selectors
import time
from functools import partial

from gunicorn.workers.gthread import ThreadWorker

#: A client gets this long to send its whole request (head and body), however it trickles it.
REQUEST_READ_TIMEOUT = 20.0
#: Beyond this many bytes without the end of the head, gunicorn's parser answers (400 or 431).
HEAD_LIMIT = 64 * 1024
DEFAULT_MAX_BODY = 1024 * 1024

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length[ \t]*:[ \t]*(\d+)")


def request_is_complete(buffered: bytes | bytearray, max_body: int) -> bool:
    """Whether ``buffered`` (what a client sent so far) holds a request a thread can read without
    waiting: the whole head and body, or enough to know the request is refused anyway."""
    head_end = buffered.find(b"\r\n\r\n")
    if head_end < 0:
        return len(buffered) > HEAD_LIMIT
    head = bytes(buffered[:head_end]).lower()
    body = len(buffered) - head_end - 4
    if b"\r\nexpect:" in head:  # the client waits for "100 Continue" (gunicorn's) before its body
        return True
    if b"\r\ntransfer-encoding" in head:  # chunked: to its last chunk, or past the limit
        return body > max_body or buffered.find(b"0\r\n\r\n", head_end + 4) >= 0
    found = _CONTENT_LENGTH.search(head)
    if not found:
        return True
    length = int(found.group(1))
    return length > max_body or body >= length


class BufferingWorker(ThreadWorker):
    def init_process(self):
        self.reading: set = set()
        super().init_process()

    def _max_body(self) -> int:
        config = getattr(self.wsgi, "config", None) or {}
        return int(config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY)

    def enqueue_req(self, conn):
        if getattr(conn, "kapfinder_read", False) or self.cfg.is_ssl:
            conn.kapfinder_read = False
            return super().enqueue_req(conn)
        # Read in this (the event loop's) thread, never blocking.
        conn.kapfinder_buffer = bytearray()
        if conn.parser is not None:  # read ahead on a kept-alive connection: the next request's start
            conn.kapfinder_buffer += conn.parser.unreader.take_buffered()
        conn.kapfinder_deadline = time.monotonic() + REQUEST_READ_TIMEOUT
        if conn.kapfinder_buffer and request_is_complete(conn.kapfinder_buffer, self._max_body()):
            return self._hand_over(conn, registered=False)
        conn.sock.setblocking(False)
        self.reading.add(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_readable, conn))

    def _on_readable(self, conn, sock):
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._drop(conn)
            return
        conn.kapfinder_buffer += data
        if request_is_complete(conn.kapfinder_buffer, self._max_body()):
            self._hand_over(conn)

    def _hand_over(self, conn, registered=True):
        if registered:
            self.poller.unregister(conn.sock)
            self.reading.discard(conn)
        conn.init()  # the HTTP/1 parser (no TLS here)
        conn.sock.setblocking(True)
        conn.parser.unreader.unread(bytes(conn.kapfinder_buffer))
        conn.kapfinder_buffer = bytearray()
        conn.data_ready = True
        conn.kapfinder_read = True
        super().enqueue_req(conn)

    def _drop(self, conn):
        try:
            self.poller.unregister(conn.sock)
        except (OSError, KeyError, ValueError):
            pass
        self.reading.discard(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self):
        super().murder_pending()
        now = time.monotonic()
        for conn in [c for c in self.reading if c.kapfinder_deadline <= now]:
            self._drop(conn)
