"""The deploy tests reuse the web tests' tiny trained model (one per test session)."""

from tests.webapp.conftest import tiny_model_dir  # noqa: F401
