"""gunicorn settings for ``gunicorn -c gunicorn.conf.py app:app`` (``make serve``).

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS; the ones operators
usually change also read an environment variable. See docs/DEPLOY.md.
"""
import ctypes
import os

_cpus = os.cpu_count() or 1

# Behind nginx or a load balancer, listen on loopback (one machine) or the private address (many).
bind = os.environ.get("KAPFINDER_BIND", "127.0.0.1:8000")

# gunicorn's gthread worker, except that each request is read whole in the worker's event loop
# before a thread takes it (kapfinder/worker.py), so slow clients cost a buffer, not a thread.
# A few processes, each with a few threads. Requests spend most of their time in the
# database, so threads overlap that wait cheaply; processes use the cores. One process per core,
# at least two so one slow request never stalls the site (each process stays well under 150 MB).
worker_class = "kapfinder.worker.BufferingWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, _cpus)))
threads = int(os.environ.get("KAPFINDER_THREADS", 4))

timeout = 30  # a worker silent this long is killed and replaced
graceful_timeout = 30  # in-flight requests get this long on reload or shutdown
keepalive = 5  # behind a proxy that reuses connections
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 20000
max_requests_jitter = 2000
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Logs never hold a query string (a patient's search): the app writes one line per request
# (method, path, status, time); gunicorn's own access log is off by default, and when turned on
# (--access-logfile -) it uses the path without the query, %(U)s, never the request line %(r)s.
# PrivateLogger also removes query strings from gunicorn's error lines. No client address,
# referrer or user agent is logged either.
accesslog = os.environ.get("KAPFINDER_ACCESS_LOG") or None
access_log_format = '%(t)s %(m)s %(U)s %(s)s %(B)s %(M)sms'
errorlog = "-"
loglevel = os.environ.get("KAPFINDER_LOG_LEVEL", "info")
logger_class = "kapfinder.serving.PrivateLogger"

# The app reads forwarded headers itself (ProxyFix, KAPFINDER_PROXY_HOPS): gunicorn trusts none.
forwarded_allow_ips = ""
proxy_allow_ips = ""

# gunicorn's control socket ($HOME/.gunicorn/gunicorn.ctl) would be shared by every gunicorn the
# same user runs on a machine; kapfinder does not use it.
control_socket_disable = True


# glibc gives each thread that allocates its own malloc arena, and each keeps what it once held: with
# 4 threads per worker that is several MB per worker for nothing. Two arenas are plenty for threads
# that mostly wait on the database. (mallopt's M_ARENA_MAX; the MALLOC_ARENA_MAX variable, if set,
# wins. Other C libraries: nothing to do.)
if "MALLOC_ARENA_MAX" not in os.environ:
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # -8 is M_ARENA_MAX
    except (OSError, AttributeError):
        pass


# The app is imported once, in the master, which builds the search index before forking: workers
# share its arrays copy-on-write and answer their first search at full speed (docs/DEPLOY.md).
preload_app = True


def when_ready(server):
    import gc

    from kapfinder.serving import warm_search_index

    warm_search_index(server.app.wsgi())
    gc.freeze()  # objects made so far are never scanned (or copied) by a worker's garbage collector
