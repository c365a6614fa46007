"""FusionScreen settings, read from the environment.

With nothing set the site runs on the embedded default: SQLite under var/, a file-system Celery
broker under var/celery/, media under var/media/. ``DATABASE_URL`` and ``CELERY_BROKER_URL``
switch to PostgreSQL and Redis/RabbitMQ. ``DJANGO_ENV=production`` turns on the deployment
hardening that ``manage.py check --deploy`` asks for and refuses to start without a real
SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_bytes, env_float, env_int, env_list, env_str

# Content-Security-Policy and Permissions-Policy on every response (webapp/policies.py).
from webapp.policies import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY  # noqa: F401

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("FUSIONSCREEN_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DJANGO_ENV = env_str("DJANGO_ENV", "development").strip().lower()
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV={DJANGO_ENV!r}: expected development or production")
PRODUCTION = DJANGO_ENV == "production"

# A fixed key is fine on a developer's machine; production must bring its own.
_DEV_SECRET_KEY = "django-insecure-fusionscreen-development-only-key"
SECRET_KEY = env_str("SECRET_KEY", "" if PRODUCTION else _DEV_SECRET_KEY)
if PRODUCTION and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY):
    raise ImproperlyConfigured(
        "DJANGO_ENV=production needs SECRET_KEY (50+ random characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))')"
    )
DEBUG = env_bool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1", "[::1]"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ENV=production needs ALLOWED_HOSTS (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "webapp.accounts",
    "webapp.studies",
    "webapp.cohorts",
    "webapp.detection",
    "webapp.worklists",
    "webapp.api",
    "webapp.dicomweb",
    "webapp.viewer",
    "webapp.site",
    "webapp.operations",
    "webapp.pacs",
]

MIDDLEWARE = [
    # First: every later line of the request's logs carries its id.
    "webapp.operations.requests.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "webapp.accounts.two_factor.TwoFactorMiddleware",
    # Before anything reads a body (the CSRF check parses forms): large bodies only for uploads.
    "webapp.studies.body_limits.RequestBodyLimitMiddleware",
    "webapp.accounts.middleware.SessionRefreshMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.accounts.middleware.AuditContextMiddleware",
    # Last: turns a sign-in refused for too many failures into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webapp.accounts.context_processors.role",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
_DEFAULT_DATABASE_URL = f"sqlite:///{VAR_DIR / 'db.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", "") or _DEFAULT_DATABASE_URL
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60), conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # The web process and the worker write the same file: WAL lets readers run beside a writer,
    # IMMEDIATE transactions take the write lock up front instead of failing half-way.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth and sessions ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
# Idle timeout: the cookie lives SESSION_IDLE_SECONDS after the last request (default 8 h).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_SECONDS", 8 * 3600)
# Sliding expiry without a database write per request: the viewer fetches hundreds of frames a
# minute on the session. SessionRefreshMiddleware saves a signed-in session (moving its expiry on)
# at most once per SESSION_REFRESH_SECONDS, so the idle timeout is exact to within that.
SESSION_SAVE_EVERY_REQUEST = False
SESSION_REFRESH_SECONDS = env_int("SESSION_REFRESH_SECONDS", 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Reverse proxies in front of the site (nginx: 1). Each appends the address it saw to
# X-Forwarded-For; the entry the outermost of ours appended is the client's IP for the audit trail.
# Entries further left were written by the client and are not trusted.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

# Sign-in lockout (django-axes) on every path that takes a password: the login page, Django's
# admin and the API token endpoint. After LOGIN_FAILURE_LIMIT failures for one username, or from
# one client address, further attempts are refused for LOGIN_LOCKOUT_MINUTES (each refusal is
# audited). Counters live in the shared cache below, so every web process sees the same count.
# Unlock early with ``manage.py axes_reset_username NAME`` or ``axes_reset_ip ADDRESS``.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "webapp.accounts.middleware.client_ip"
AXES_LOCKOUT_CALLABLE = "webapp.accounts.lockout.lockout_response"
AXES_ENABLE_ADMIN = False  # the cache handler keeps no rows to show

# Second factor (django-otp, TOTP + recovery codes): required for the admin role unless this is
# off (the demo turns it off), and for anyone who set it up; optional for the other roles.
TWO_FACTOR_FOR_ADMINS = env_bool("TWO_FACTOR_FOR_ADMINS", True)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "FusionScreen")

# --- shared cache ---------------------------------------------------------------------------
# Sign-in failure counters and API throttles must be shared by every web process: the database
# on the embedded default (``manage.py createcachetable``, run by migrate), Redis when CACHE_URL
# names one (redis://host:6379/2).
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "fusionscreen"),
        }
    }
elif CACHE_URL:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: expected redis://... or nothing (the database)")
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "fusionscreen_cache",
        }
    }

# --- i18n -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- files ----------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "webapp" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
if not PRODUCTION:
    # The embedded default serves app static files (API docs assets) straight from the apps,
    # without collectstatic; production serves the collected, hashed copies.
    WHITENOISE_USE_FINDERS = True
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# DICOM files are patient data: MEDIA_ROOT is never served as static files; the API serves them.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# Uploads can be gigabytes: keep them on the data disk, not in a small /tmp.
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR", "") or str(VAR_DIR / "tmp" / "uploads")
Path(FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
# Request bodies (webapp/studies/body_limits.py): at most REQUEST_MAX_BYTES, kept in memory,
# except on these upload views for a signed-in user, where every part streams to a temporary
# file in chunks, with the ingest limits below.
REQUEST_MAX_BYTES = env_bytes("REQUEST_MAX_BYTES", 2560 * 1024)
LARGE_UPLOAD_VIEWS = frozenset(
    {
        "cohort-upload",
        "cohort-labels",
        "cohort_pages:upload",
        "cohort_pages:labels",
        "dicomweb:studies",  # STOW-RS (POST; QIDO-RS GETs have no body)
        "dicomweb:study",
    }
)
FILE_UPLOAD_HANDLERS = ["django.core.files.uploadhandler.MemoryFileUploadHandler"]
# A browser folder upload sends one part per slice; Django's default of 100 is too low for CT.
DATA_UPLOAD_MAX_NUMBER_FILES = env_int("UPLOAD_MAX_FILES", 5000)

# Ingest limits (bytes unless named otherwise); sizes accept K/M/G suffixes in the environment.
INGEST_MAX_REQUEST_BYTES = env_bytes("UPLOAD_MAX_REQUEST_BYTES", 4 * 1024**3)
INGEST_MAX_FILE_BYTES = env_bytes("UPLOAD_MAX_FILE_BYTES", 2 * 1024**3)
INGEST_MAX_INSTANCE_BYTES = env_bytes("UPLOAD_MAX_INSTANCE_BYTES", 1024**3)
INGEST_ZIP_MAX_UNCOMPRESSED_BYTES = env_bytes("UPLOAD_ZIP_MAX_UNCOMPRESSED_BYTES", 8 * 1024**3)
INGEST_ZIP_MAX_ENTRIES = env_int("UPLOAD_ZIP_MAX_ENTRIES", 100_000)
# CT slices deflate 2-5x; anything past 100x in an entry above 1 MiB is a bomb, not a scan.
INGEST_ZIP_MAX_RATIO = env_float("UPLOAD_ZIP_MAX_RATIO", 100.0)
INGEST_ZIP_RATIO_MIN_BYTES = env_bytes("UPLOAD_ZIP_RATIO_MIN_BYTES", 1024**2)
INGEST_LABELS_MAX_BYTES = env_bytes("UPLOAD_LABELS_MAX_BYTES", 16 * 1024**2)

# --- REST framework and OpenAPI -------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first, so an anonymous request is answered 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "knox.auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "webapp.core.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "webapp.core.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"auth": env_str("AUTH_THROTTLE_RATE", "30/minute")},
    # Throttles know a client by the address our own proxies saw, never by a header it sent.
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
# API tokens (django-rest-knox): stored as SHA-512 digests, a new one per sign-in, expiring after
# API_TOKEN_TTL_HOURS; revoked by POST /api/auth/token/revoke/ (the one in use) or .../revoke-all/,
# and all of a user's at sign-out and at a password change.
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=env_int("API_TOKEN_TTL_HOURS", 12)),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FusionScreen API",
    "DESCRIPTION": "Chest LDCT screening: cohorts, studies, ingest, model versions, detection jobs, results, "
    "maps, calibration, worklists, reads and the AI-versus-reader review.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI comes from drf-spectacular-sidecar's static files: no CDN at run time.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Swagger UI would otherwise send the schema to validator.swagger.io for its badge.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "webapp.detection.models.JobStatus",
        "ModelVersionStatusEnum": "webapp.detection.models.ModelVersion.Status",
        "ItemStatusEnum": "webapp.worklists.models.ItemStatus",
        "ReadVerdictEnum": "webapp.worklists.models.Verdict",
    },
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_DIR = VAR_DIR / "celery"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "") or "filesystem://"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", "") or f"file://{CELERY_DIR / 'results'}"
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 2 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", CELERY_TASK_TIME_LIMIT - 600)
# Per-task limits (the detection app's tasks); soft first, so the job row is marked failed with
# a reason before the hard limit kills the process.
DETECTION_TIME_LIMIT = env_int("DETECTION_TIME_LIMIT", 1800)
DETECTION_SOFT_TIME_LIMIT = env_int("DETECTION_SOFT_TIME_LIMIT", max(DETECTION_TIME_LIMIT - 120, 1))
TRAINING_TIME_LIMIT = env_int("TRAINING_TIME_LIMIT", CELERY_TASK_TIME_LIMIT)
TRAINING_SOFT_TIME_LIMIT = env_int("TRAINING_SOFT_TIME_LIMIT", max(TRAINING_TIME_LIMIT - 600, 1))
CALIBRATION_TIME_LIMIT = env_int("CALIBRATION_TIME_LIMIT", CELERY_TASK_TIME_LIMIT)
CALIBRATION_SOFT_TIME_LIMIT = env_int("CALIBRATION_SOFT_TIME_LIMIT", max(CALIBRATION_TIME_LIMIT - 600, 1))
# Redis redelivers an unacked task after this; it must outlast the longest hard limit or a long
# job would be handed to a second worker while the first still runs it (jobs stay exactly-once
# either way, but the work would be done twice). Tests of a killed worker set it low.
CELERY_VISIBILITY_TIMEOUT = env_int(
    "CELERY_VISIBILITY_TIMEOUT",
    max(CELERY_TASK_TIME_LIMIT, DETECTION_TIME_LIMIT, TRAINING_TIME_LIMIT, CALIBRATION_TIME_LIMIT) + 3600,
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
if env_str("CELERY_BROKER_KEY_PREFIX", ""):
    # Several sites (or test sessions) on one Redis: every key, queues included, gets this prefix.
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env_str("CELERY_BROKER_KEY_PREFIX")
if env_str("CELERY_UNACKED_RESTORE_INTERVAL", ""):
    # How often a Redis worker looks for messages whose worker vanished (default: every ~100 s).
    CELERY_BROKER_TRANSPORT_OPTIONS |= {
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
        "unacked_restore_throttle": 1,
    }
if CELERY_BROKER_URL.startswith("filesystem://"):
    # One shared folder: the web process writes where the worker reads.
    _queue_dir = CELERY_DIR / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(CELERY_DIR / "control"),
        "processed_folder": str(CELERY_DIR / "processed"),
        "store_processed": False,
    }
    for _folder in ("queue", "control", "processed"):
        (CELERY_DIR / _folder).mkdir(parents=True, exist_ok=True)
if CELERY_RESULT_BACKEND.startswith("file://"):
    # Results are only read by health checks (jobs keep their state in the database).
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Detection runs on "gpu" when a GPU worker is configured, else on "cpu" (the detection app).
CELERY_GPU_WORKERS = env_bool("CELERY_GPU_WORKERS", False)

# --- detection ------------------------------------------------------------------------------
# The queue detection, training and calibration jobs are sent to; a GPU machine runs
# ``celery -A webapp worker -Q gpu``. DETECTION_QUEUE names it outright.
DETECTION_QUEUE = env_str("DETECTION_QUEUE", "") or ("gpu" if CELERY_GPU_WORKERS else "cpu")
if DETECTION_QUEUE not in {"cpu", "gpu"}:
    raise ImproperlyConfigured(f"DETECTION_QUEUE={DETECTION_QUEUE!r}: expected cpu or gpu")
# The torch device a worker scores on: auto = CUDA when the worker has it, else the CPU.
DETECTION_DEVICE = env_str("DETECTION_DEVICE", "auto")
# A worker's torch threads (0: one per core); N workers on one machine: cores/N each.
DETECTION_TORCH_THREADS = env_int("DETECTION_TORCH_THREADS", 0)
# Transient errors (database or broker hiccups, CUDA out of memory) are retried with backoff.
DETECTION_MAX_RETRIES = env_int("DETECTION_MAX_RETRIES", 3)
DETECTION_RETRY_BACKOFF_S = env_int("DETECTION_RETRY_BACKOFF_S", 10)
# A job whose worker keeps dying (killed, out of memory) is given up after this many deliveries.
DETECTION_MAX_ATTEMPTS = env_int("DETECTION_MAX_ATTEMPTS", 5)
# A running job whose heartbeat (claim or last checkpoint) is older than this has lost its
# worker: the sweep re-queues it (or fails it past DETECTION_MAX_ATTEMPTS). A stage (one study
# scored, one training epoch) takes far less than a whole detection job may, hence the default.
DETECTION_JOB_STALE_AFTER = env_int("DETECTION_JOB_STALE_AFTER", DETECTION_TIME_LIMIT)
# A queued job whose message the broker never took (it was down) is sent again by the sweep once
# it is this old.
DETECTION_UNSENT_AFTER = env_int("DETECTION_UNSENT_AFTER", 60)
# How often Celery beat (``celery -A webapp worker -B`` or ``celery -A webapp beat``) sweeps.
DETECTION_SWEEP_EVERY = env_int("DETECTION_SWEEP_EVERY", 300)
# Staging folders, upload parts and partial model folders older than this are orphans of
# interrupted work (webapp/studies/cleanup.py); beat removes them every ORPHAN_CLEANUP_EVERY s.
ORPHAN_MAX_AGE_S = env_int("ORPHAN_MAX_AGE_S", 24 * 3600)
ORPHAN_CLEANUP_EVERY = env_int("ORPHAN_CLEANUP_EVERY", 3600)
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {
        "task": "detection.sweep_stale_jobs",
        "schedule": DETECTION_SWEEP_EVERY,
        "options": {"queue": DETECTION_QUEUE, "expires": DETECTION_SWEEP_EVERY},
    },
    "cleanup-orphans": {
        "task": "studies.cleanup_orphans",
        "schedule": ORPHAN_CLEANUP_EVERY,
        "options": {"queue": DETECTION_QUEUE, "expires": ORPHAN_CLEANUP_EVERY},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DIR / "beat-schedule")
# The API imports model directories only from under this folder (the shell command takes any path).
MODEL_IMPORT_ROOT = Path(env_str("MODEL_IMPORT_ROOT", str(VAR_DIR / "model-imports")))

# --- the viewer (DICOMweb and the DICOM network: settings_pacs.py) ------------------------
# The viewer's Vite build (scripts/build-frontend.sh), served as static files under viewer/.
VIEWER_BUNDLE_DIR = Path(env_str("VIEWER_BUNDLE_DIR", str(BASE_DIR / "frontend" / "dist")))
VIEWER_BUNDLE_DIR.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [*STATICFILES_DIRS, ("viewer", VIEWER_BUNDLE_DIR)]

from webapp.settings_operations import *  # noqa: E402,F403  (logs, error reports, health, sendfile)
from webapp.settings_pacs import *  # noqa: E402,F403  (DICOMweb, the DICOM network, exports)

# --- production hardening -------------------------------------------------------------------
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancers probe over plain HTTP
    if env_bool("SECURE_PROXY_SSL_HEADER", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading is a deploy-time decision (browsers' lists are hard to leave): off unless asked,
    # and Django's reminder that it is off (security.W021) is then answered here.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
