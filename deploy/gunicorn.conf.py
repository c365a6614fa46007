"""gunicorn for FusionScreen: ``gunicorn -c deploy/gunicorn.conf.py webapp.wsgi``.

Behind nginx (deploy/nginx/). Threaded workers: an upload streams through nginx to Django,
which spools it to FILE_UPLOAD_TEMP_DIR in chunks, so a slow client holds one thread, not a
process; the viewer's frame requests are short and many. Every value can be set from the
environment (the systemd unit and the compose file read /etc/fusionscreen/fusionscreen.env).
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8001")
# Two processes per core is plenty when threads carry the waiting; at least two, so one can
# restart (max_requests) while the other serves.
workers = _int("WEB_CONCURRENCY", max(2, min(2 * multiprocessing.cpu_count(), 8)))
worker_class = "gthread"
threads = _int("GUNICORN_THREADS", 4)
# With threads, timeout is how long a worker process may go silent before the arbiter kills it,
# not a per-request limit; a long upload keeps its process alive. nginx bounds each request.
timeout = _int("GUNICORN_TIMEOUT", 120)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 60)
keepalive = 5
# Recycle processes now and then so memory handed out by a large request goes back.
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
# The settings, URLconf and views load once in the arbiter; workers fork with them (no torch:
# the web process never imports it).
preload_app = True
# nginx on the same host passes X-Forwarded-Proto; nothing else may.
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# One line per request comes from the app (webapp/operations/requests.py), with its request id.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
limit_request_line = 8190
limit_request_field_size = 16380
proc_name = "fusionscreen-web"
# gunicorn's control socket would live in the service user's home, which the unit keeps
# read-only; reloads go through signals (systemctl reload sends HUP).
no_control_socket = True
if (
    os.environ.get("LOG_FORMAT", "json" if os.environ.get("DJANGO_ENV") == "production" else "plain")
    == "json"
):
    # gunicorn's own lines (start, worker boot and exit) as JSON too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "webapp.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "level": loglevel.upper(), "propagate": False}
        },
    }
