"""How gunicorn serves Gatehouse: `make run` and production (docs/deploy.md).

    .venv/bin/gunicorn -c gunicorn.conf.py 'app:create_app()'

The environment can change where and how much: GATEHOUSE_BIND (127.0.0.1:5000),
GATEHOUSE_WORKERS (2) and GATEHOUSE_THREADS (4).

- Threaded workers (gthread): SCIM and sign-in requests spend much of their time
  waiting on the database, the password hash or Okta, so a few threads per
  process keep the cores busy where sync workers would queue; measured in the
  note of issue #11 (bench/scim.py --worker-class).
- Timeouts: every request is bounded well below 30 s (outbound calls give up
  after 10 s), so a worker silent for 30 s is stuck and is replaced.
- No control socket: gunicorn 27 would put one at ~/.gunicorn/gunicorn.ctl, the
  same path for every instance on the machine (two instances would fight over
  it). Nothing of Gatehouse uses it.
- Proxies: Gatehouse itself decides which X-Forwarded-* headers to trust
  (TRUST_PROXY), so gunicorn trusts none of them.
"""

import os

bind = [os.environ.get("GATEHOUSE_BIND", "127.0.0.1:5000")]
workers = int(os.environ.get("GATEHOUSE_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GATEHOUSE_THREADS", "4"))
timeout = 30
graceful_timeout = 20
keepalive = 5
control_socket_disable = True
forwarded_allow_ips = ""
accesslog = "-"
errorlog = "-"
