"""Shared fixtures: users per role, two cohorts (ours and someone else's), API clients per user,
and a tiny phantom CT cohort generated once per test session."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.webapp.factories import CohortFactory, CohortMemberFactory, UserFactory, study_in_cohort
from tests.webapp.workers import database_url
from webapp.accounts import roles

_DB_FIXTURES = {"db", "transactional_db", "live_server", "django_db_reset_sequences"}


@pytest.fixture(autouse=True)
def _isolated_media_and_cache(request, settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # The cache (sign-in counters, throttles) is a database table: a test that uses the database
    # starts with it empty (transactional tests would otherwise inherit the last one's counters).
    if request.node.get_closest_marker("django_db") or _DB_FIXTURES & set(request.fixturenames):
        request.getfixturevalue("_django_db_helper")
        cache.clear()


@dataclass
class World:
    """Our cohort A (coordinator + radiologist are members), someone else's cohort B, an admin."""

    radiologist: object
    coordinator: object
    admin: object
    other_coordinator: object
    cohort_a: object
    cohort_b: object
    study_a: object
    study_b: object

    def user(self, role: str):
        return None if role == "anonymous" else getattr(self, role)


@pytest.fixture
def world(db) -> World:
    radiologist = UserFactory(username="rad", role=roles.RADIOLOGIST)
    coordinator = UserFactory(username="coord", role=roles.COORDINATOR)
    admin = UserFactory(username="boss", role=roles.ADMIN)
    other = UserFactory(username="coord-b", role=roles.COORDINATOR)
    cohort_a = CohortFactory(name="A", created_by=coordinator)
    cohort_b = CohortFactory(name="B", created_by=other, purpose="calibration")
    for user in (coordinator, radiologist):
        CohortMemberFactory(cohort=cohort_a, user=user)
    CohortMemberFactory(cohort=cohort_b, user=other)
    return World(
        radiologist,
        coordinator,
        admin,
        other,
        cohort_a,
        cohort_b,
        study_in_cohort(cohort_a),
        study_in_cohort(cohort_b),
    )


def api_client(user=None) -> APIClient:
    """An API client signed in with the user's real API token (anonymous when ``user`` is None)."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api() -> Callable[..., APIClient]:
    return api_client


# --- phantom CT data -------------------------------------------------------------------------
@dataclass(frozen=True)
class Phantoms:
    root: Path
    labels_csv: Path
    series_dirs: list[Path]  # one CT series folder per patient

    def files(self, index: int = 0) -> list[Path]:
        return sorted(self.series_dirs[index].glob("*.dcm"))


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Phantoms:
    from detector.lab.phantom import generate_cohort

    root = tmp_path_factory.mktemp("phantoms")
    labels = generate_cohort(root, 2, 1, 2024, "tiny", progress=False)
    # the abnormal first, then the two normals (patient ids are neutral: labels.csv says which)
    rows = sorted(csv.DictReader(labels.open()), key=lambda r: r["label"] != "abnormal")
    dirs = [root / r["folder"] for r in rows]
    return Phantoms(root, labels, dirs)


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buf.getvalue()


def zip_folder(folders: list[Path], root: Path) -> bytes:
    return zip_bytes(
        {p.relative_to(root).as_posix(): p.read_bytes() for f in folders for p in sorted(f.glob("*.dcm"))}
    )


# --- a tiny trained detector model -------------------------------------------------------------
def tiny_settings_overrides() -> dict:
    """detector.settings.TEST_SETTINGS as overrides of the defaults (what the train API takes)."""
    from detector.settings import TEST_SETTINGS, ModelSettings

    default = ModelSettings()
    return {
        k: list(v) if isinstance(v, tuple) else v
        for k, v in TEST_SETTINGS.to_dict().items()
        if getattr(default, k) != getattr(TEST_SETTINGS, k)
    }


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector model trained once per session on three tiny normal phantoms (TEST_SETTINGS)."""
    from detector.cohort import discover
    from detector.lab.phantom import generate_cohort
    from detector.settings import TEST_SETTINGS
    from detector.train import train

    root = tmp_path_factory.mktemp("tiny-model")
    generate_cohort(root / "normals", 3, 0, 3030, "tiny", progress=False)
    model = train(discover(root / "normals"), TEST_SETTINGS, "cpu", progress=False, log=lambda _: None)
    return model.save(root / "model")


@pytest.fixture
def model_version(db, tiny_model_dir: Path):
    """The tiny model imported (files linked into this test's media) and active."""
    from webapp.detection.services import import_model_version

    return import_model_version(None, tiny_model_dir, name="tiny", activate=True, from_import_root=False)


# --- processes beside the test process (workers, the DICOM receiver) ----------------------------
@pytest.fixture(scope="module")
def shared(django_db_setup, tmp_path_factory) -> Iterator[dict]:
    """Database, media and broker settings this module's other processes (workers, the DICOM
    receiver) share with the test process."""
    root = tmp_path_factory.mktemp("worker-shared")
    env = {
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "CELERY_BROKER_KEY_PREFIX": django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"],
        "MEDIA_ROOT": str(root / "media"),
    }
    yield {"root": root, "media": root / "media", "env": env}
    # The broker keys of this session (queues, unacked messages) go with it.
    client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    for key in client.scan_iter(match=f"{env['CELERY_BROKER_KEY_PREFIX']}*"):
        client.delete(key)


@pytest.fixture
def media(shared, settings) -> Path:
    settings.MEDIA_ROOT = shared["media"]
    return shared["media"]


@pytest.fixture
def active_model(media, tiny_model_dir):
    from webapp.detection.services import import_model_version

    return import_model_version(None, tiny_model_dir, name="tiny", activate=True, from_import_root=False)
