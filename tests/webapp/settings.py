"""Test settings: the real PostgreSQL and Redis by default (DATABASE_URL, CELERY_BROKER_URL
override), a throw-away var/."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fusionscreen")
# Jobs go to the real Redis, under keys of this session only (workers the tests start share it).
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CELERY_BROKER_KEY_PREFIX", f"fusionscreen-tests-{os.getpid()}:")
if "FUSIONSCREEN_VAR_DIR" not in os.environ:
    # Keep the repository's var/ (demo runs, experiments) out of the tests' way.
    _var = tempfile.mkdtemp(prefix="fusionscreen-tests-")
    os.environ["FUSIONSCREEN_VAR_DIR"] = _var
    atexit.register(shutil.rmtree, _var, True)

from webapp.settings import *  # noqa: E402,F403

# Hashing strength is not under test; the default hasher costs ~0.3 s per login.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "1000/minute"}}  # noqa: F405
# A test database per test session: two sessions on one machine (two engineers, CI beside a
# developer) would otherwise create and drop the same test_* database under each other.
if DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}  # noqa: F405
TWO_FACTOR_FOR_ADMINS = False  # on in the tests of the second factor (test_two_factor.py)
