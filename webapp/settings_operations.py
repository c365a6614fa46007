"""Settings for running the site (imported by webapp/settings.py): logs, error reports, worker
heartbeats and readiness, files handed to nginx. deploy/README.md lists every variable."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_int, env_str
from webapp.logs import logging_config

_ENVIRONMENT = env_str("DJANGO_ENV", "development").strip().lower()

# LOG_FORMAT: json (production's default; one object per line) or plain (webapp/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "json" if _ENVIRONMENT == "production" else "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: expected plain or json")
LOGGING = logging_config(env_str("LOG_LEVEL", "INFO"), LOG_FORMAT)
# Workers log through the same configuration instead of Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Error reports go to Sentry (or a compatible service) only when SENTRY_DSN is set; nothing is
# sent anywhere otherwise. Reports carry no request bodies, cookies or user details.
SENTRY_DSN = env_str("SENTRY_DSN", "")
if SENTRY_DSN:
    from webapp.error_reports import start_error_reports

    start_error_reports(SENTRY_DSN, environment=_ENVIRONMENT, release=env_str("FUSIONSCREEN_RELEASE", ""))

# Each worker writes a heartbeat row this often; /readyz wants one on the detection queue no
# older than READY_WORKER_MAX_AGE seconds.
WORKER_HEARTBEAT_EVERY = env_int("WORKER_HEARTBEAT_EVERY", 20)
READY_WORKER_MAX_AGE = env_int("READY_WORKER_MAX_AGE", 90)

# Behind nginx: DICOM instances and stored maps are sent by nginx from this internal location
# (X-Accel-Redirect; deploy/nginx/fusionscreen-app.conf), after the view checked access. Off if empty.
SENDFILE_URL_PREFIX = env_str("SENDFILE_URL_PREFIX", "")
