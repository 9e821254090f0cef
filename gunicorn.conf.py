"""How gunicorn serves Gatehouse: `make run` and production (docs/deploy.md).

    .venv/bin/gunicorn -c gunicorn.conf.py 'app:create_app()'

The environment can change where and how much: GATEHOUSE_BIND (127.0.0.1:5000),
GATEHOUSE_WORKERS (two per core) and GATEHOUSE_THREADS (2).

- Threaded workers (gthread), two per core, two threads each: measured with
  bench/serving.py on 2 cores (issue #11's note), SCIM creates ran at 688-867/s
  (sync x2: 834-889, gthread 2x4: 423-469) and kept a p99 of 77-80 ms while
  people signed in (sync x2: 148-152 ms, as each sign-in's password hash holds a
  whole worker). Threads also keep serving while a sign-in waits on Okta, which
  a sync worker cannot.
- Timeouts: every request is bounded well below 30 s (outbound calls give up
  after 10 s), so a worker silent for 30 s is stuck and is replaced.
- No control socket: gunicorn 27 would put one at ~/.gunicorn/gunicorn.ctl, the
  same path for every instance on the machine (two instances would fight over
  it). Nothing of Gatehouse uses it.
- The setup code of an empty install is printed once per start, by the first
  worker (`post_fork`): each worker builds its own app, and without this each
  would print it.
- Proxies: Gatehouse itself decides which X-Forwarded-* headers to trust
  (TRUST_PROXY), so gunicorn trusts none of them.
"""

import os

bind = [os.environ.get("GATEHOUSE_BIND", "127.0.0.1:5000")]
# The cores this process may use (a container's limit, not the host's count).
cores = (
    len(os.sched_getaffinity(0))
    if hasattr(os, "sched_getaffinity")
    else os.cpu_count() or 1
)
workers = int(os.environ.get("GATEHOUSE_WORKERS", 2 * cores))
worker_class = "gthread"
threads = int(os.environ.get("GATEHOUSE_THREADS", "2"))
timeout = 30
graceful_timeout = 20
keepalive = 5
control_socket_disable = True
forwarded_allow_ips = ""
accesslog = "-"
logger_class = "core.access_log.MaskedSecretsLogger"
errorlog = "-"


def post_fork(server: object, worker: object) -> None:
    """Let only the first worker of this start print an empty install's setup
    code: each worker builds its own app, and each would print it. A worker
    started later (a replacement, a reload) stays quiet too."""
    from core.first_run import ANNOUNCED_ENV

    if getattr(worker, "age", 1) > 1:
        os.environ[ANNOUNCED_ENV] = "1"
