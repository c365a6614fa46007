"""Backup and restore (issue 15): a backup of a site with uploaded studies, results and a read,
restored into a fresh PostgreSQL database and media folder by another process, finds every
study, result (its maps readable) and read; a file missing from media stops the backup; a restore
refuses a database that is not empty. The embedded default (SQLite) round-trips too."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from tests.webapp.conftest import zip_folder
from tests.webapp.factories import detection_result
from tests.webapp.reading import read_body
from tests.webapp.workers import worker_env
from webapp.detection.models import DetectionResult, ModelVersion
from webapp.studies.models import Instance, Study
from webapp.worklists import services as worklist_services
from webapp.worklists.models import Read

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# What the restored site holds, printed as JSON by a process on the restored database and media.
INVENTORY = """
import json
from webapp.detection.maps import read_map
from webapp.detection.models import DetectionResult, ModelVersion
from webapp.studies.models import Instance, Study
from webapp.worklists.models import Read
out = {
    "studies": sorted(Study.objects.values_list("study_instance_uid", flat=True)),
    "instances_on_disk": all(i.absolute_path.is_file() for i in Instance.objects.all()),
    "results": sorted(
        (r.study.study_instance_uid, round(r.fused_score, 6),
         all(read_map(r.maps_path, info, tuple(r.grid["shape_zyx"])).size for info in r.maps.values()))
        for r in DetectionResult.objects.select_related("study")
    ),
    "reads": sorted((r.item.study.study_instance_uid, r.verdict) for r in Read.objects.select_related("item__study")),
}
print("INVENTORY" + json.dumps(out))
"""


def inventory_here() -> dict:
    return {
        "studies": sorted(Study.objects.values_list("study_instance_uid", flat=True)),
        "instances_on_disk": True,
        "results": sorted(
            [r.study.study_instance_uid, round(r.fused_score, 6), True]
            for r in DetectionResult.objects.select_related("study")
        ),
        "reads": sorted(
            [r.item.study.study_instance_uid, r.verdict] for r in Read.objects.select_related("item__study")
        ),
    }


def give_factory_instances_files() -> None:
    """The world's factory studies have instance rows without files: give them their bytes."""
    for instance in Instance.objects.all():
        if not instance.absolute_path.is_file():
            instance.absolute_path.parent.mkdir(parents=True, exist_ok=True)
            instance.absolute_path.write_bytes(b"factory instance")
            Instance.objects.filter(pk=instance.pk).update(
                sha256=hashlib.sha256(b"factory instance").hexdigest()
            )


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def fresh_database():
    name = f"fs_restore_{os.getpid()}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    yield f"postgres://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_a_restore_into_a_fresh_database_finds_every_study_result_and_read(
    world, api, phantoms, model_version, tmp_path, fresh_database
):
    if django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the PostgreSQL round trip")
    # No automatic detection on upload (there is no worker here): results are made below.
    ModelVersion.objects.filter(pk=model_version.pk).update(is_active=False)
    coordinator = api(world.coordinator)
    zipped = SimpleUploadedFile("cohort.zip", zip_folder(phantoms.series_dirs, phantoms.root))
    r = coordinator.post(f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": [zipped]}, format="multipart")
    assert r.status_code == 200, r.content[:300]
    for score, study in zip((0.9, 0.4, 0.2), Study.objects.filter(pk__in=r.json()["study_ids"])):
        detection_result(study, model_version, score)
    worklist = worklist_services.build_worklist(
        world.coordinator, world.cohort_a, name="triage", blinded=False, model_version=model_version
    )
    worklist_services.assign_worklist(world.coordinator, worklist, ["rad"])
    item = worklist.items.order_by("position").first()
    assert api(world.radiologist).post(f"/api/worklist-items/{item.pk}/read/", read_body()).status_code == 201
    give_factory_instances_files()
    expected = inventory_here()
    assert len(expected["studies"]) >= 4 and len(expected["results"]) == 3 and len(expected["reads"]) == 1

    out = tmp_path / "backup"
    call_command("backup", str(out))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["engine"] == "postgresql" and manifest["counts"]["reads"] == 1
    assert manifest["counts"]["results"] == 3 and (out / "database.dump").stat().st_size > 0

    env = worker_env(
        tmp_path / "restored-var", DATABASE_URL=fresh_database, MEDIA_ROOT=str(tmp_path / "restored-media")
    )
    restored = manage(env, "restore", str(out))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert '"reads": 1' in restored.stdout
    shown = manage(env, "shell", "-c", INVENTORY)
    assert shown.returncode == 0, shown.stderr
    found = json.loads(shown.stdout.split("INVENTORY", 1)[1])
    assert found == expected

    again = manage(env, "restore", str(out))  # the restored site is not empty any more
    assert again.returncode != 0 and "the database is not empty" in again.stderr


def test_a_backup_stops_when_a_file_the_database_refers_to_is_missing(world, api, phantoms, tmp_path):
    coordinator = api(world.coordinator)
    zipped = SimpleUploadedFile("cohort.zip", zip_folder(phantoms.series_dirs[:1], phantoms.root))
    r = coordinator.post(f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": [zipped]}, format="multipart")
    assert r.status_code == 200
    study = Study.objects.get(pk=r.json()["study_ids"][0])
    victim = study.series.first().instances.first()
    give_factory_instances_files()
    victim.absolute_path.unlink()
    with pytest.raises(CommandError, match=f"1 files the database refers to .*{victim.file_path}"):
        call_command("backup", str(tmp_path / "backup"))
    assert not (tmp_path / "backup").exists() and not (tmp_path / "backup.partial").exists()


def test_the_embedded_default_round_trips_on_sqlite(tmp_path):
    first = worker_env(tmp_path / "a", DEMO_PASSWORD="round-trip-password-1")
    for args in (("migrate", "--noinput"), ("create_demo_users",), ("backup", str(tmp_path / "backup"))):
        done = manage(first, *args)
        assert done.returncode == 0, done.stdout + done.stderr
    second = worker_env(tmp_path / "b")
    restored = manage(second, "restore", str(tmp_path / "backup"))
    assert restored.returncode == 0, restored.stdout + restored.stderr
    users = manage(
        second,
        "shell",
        "-c",
        "from django.contrib.auth.models import User; print(sorted(User.objects.values_list('username', flat=True)))",
    )
    assert "['admin', 'coordinator', 'radiologist']" in users.stdout, users.stdout + users.stderr
