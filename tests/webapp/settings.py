"""Test settings: the real PostgreSQL by default (DATABASE_URL overrides), a throw-away var/."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fusionscreen")
if "FUSIONSCREEN_VAR_DIR" not in os.environ:
    # Keep the repository's var/ (demo runs, experiments) out of the tests' way.
    _var = tempfile.mkdtemp(prefix="fusionscreen-tests-")
    os.environ["FUSIONSCREEN_VAR_DIR"] = _var
    atexit.register(shutil.rmtree, _var, True)

from webapp.settings import *  # noqa: E402,F403

# Hashing strength is not under test; the default hasher costs ~0.3 s per login.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {**REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"auth": "1000/minute"}}  # noqa: F405
