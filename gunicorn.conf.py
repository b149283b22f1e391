"""gunicorn's settings, in one place: every way of starting the web reads this file.

The Dockerfile, docker-compose and the quick start stack (`ops.stack`) all run
`gunicorn -c gunicorn.conf.py config.wsgi:application`; they only add `--bind` and,
where the machine differs, `--workers` / `--threads` on the command line (which wins over
this file). Nothing here reads the environment: settings do that (config/settings.py).

gunicorn's threaded worker assumes a buffering proxy in front of it that absorbs slow
clients (nginx: deploy/nginx/, docs/DEPLOYMENT.md). The limits below are the second line,
for a request that reaches gunicorn directly (the quick start, a mistaken deployment).
"""

import os
import tempfile
from pathlib import Path

# Where to listen. Behind nginx, on loopback or the compose network only.
bind = "127.0.0.1:8000"

# gthread: a request waiting for the model holds a thread, not a process; the waits are
# bounded per user and in total (WAIT_SLOTS_*), so they never take every thread.
worker_class = "gthread"
workers = 2
threads = 32

# Seconds an idle keep-alive connection stays open. Above the pause between an API
# client's requests (or the server closes it just as the next request is sent: a reset,
# not retried) — measured with the old-style clients' 1-3 s pauses; gunicorn's default of
# 2 s reset them.
keepalive = 10

# A worker silent for this long is killed and replaced (a stuck request, not a slow one:
# the longest legitimate wait is PREDICT_WAIT_SECONDS = 30 s).
timeout = 120
# On SIGTERM, requests in flight get this long to finish (a deploy never cuts a long poll
# short: waits are at most 60 s, the result page's 15 s).
graceful_timeout = 20

# Request line and headers: bounded, so a client cannot make a worker hold megabytes of
# headers. These are gunicorn's defaults, stated so nginx's limits can be set below them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Behind a proxy the client's address arrives in X-Forwarded-For; which hop to trust is
# decided in Django (NUM_PROXIES, SECURE_PROXY_SSL_HEADER), not here.


# --- Metrics from every worker process (docs/METRICS.md) --------------------------------------
# With several gunicorn processes a scrape of /metrics reaches one of them; prometheus_client's
# multiprocess mode makes each process write its counters to files in PROMETHEUS_MULTIPROC_DIR
# and /metrics sum them. The library reads that variable from the process environment when
# it is imported, so it is set here, in the master, before the workers are forked.
def on_starting(server):
    directory = Path(
        os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        or tempfile.mkdtemp(prefix="imageclassifier-metrics-")
    )
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):  # a previous run's counts are not this server's
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
