"""A full disk and interrupted work (issue 12, finding 12): a full disk during ingest answers 507
and loses nothing already stored; orphans of interrupted uploads and imports are cleaned up."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.webapp.test_ingest import staging_is_empty, upload
from webapp.studies import staging
from webapp.studies.models import Instance, Study

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def _disk_fills_after(monkeypatch, n_files: int) -> None:
    original = staging.Stager._copy
    count = [0]

    def copy(self, chunks, name):
        count[0] += 1
        if count[0] > n_files:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, chunks, name)

    monkeypatch.setattr(staging.Stager, "_copy", copy)


def _parts(phantoms) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in phantoms.files(0)]


def test_a_full_disk_during_an_api_upload_is_a_507_that_loses_nothing(
    world, api, phantoms, settings, monkeypatch
):
    before = (Study.objects.count(), Instance.objects.count())
    _disk_fills_after(monkeypatch, 3)
    r = upload(api(world.coordinator), world.cohort_a, _parts(phantoms))
    assert (
        r.status_code == 507
        and "storage is full" in r.json()["detail"]
        and "nothing of this upload" in r.json()["detail"]
    )
    assert (Study.objects.count(), Instance.objects.count()) == before
    assert world.study_a in Study.objects.all()
    assert staging_is_empty(Path(settings.MEDIA_ROOT))


def test_a_full_disk_during_a_page_upload_says_so(world, client, phantoms, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(world.coordinator)
    _disk_fills_after(monkeypatch, 1)
    files = [SimpleUploadedFile(name, data) for name, data in _parts(phantoms)]
    r = client.post(f"/cohorts/{world.cohort_a.pk}/upload/", {"file": files})
    assert r.status_code == 507 and b"storage is full" in r.content


def _aged(path: Path, seconds: float) -> Path:
    t = time.time() - seconds
    os.utime(path, (t, t))
    return path


def test_orphans_older_than_the_limit_are_removed_and_nothing_younger(settings, capsys):
    media, uploads = Path(settings.MEDIA_ROOT), Path(settings.FILE_UPLOAD_TEMP_DIR)
    old_stage = media / ".staging" / "deadbeef0001"
    (old_stage / "x").mkdir(parents=True)
    (old_stage / "x" / "0000001.part").write_bytes(b"x")
    _aged(old_stage, 2 * 86400)
    fresh_stage = media / ".staging" / "cafe00000002"
    fresh_stage.mkdir()
    old_model = media / "models" / "abc.partial"
    old_model.mkdir(parents=True)
    _aged(old_model, 2 * 86400)
    kept_model = media / "models" / "abc"
    kept_model.mkdir()
    _aged(kept_model, 2 * 86400)
    uploads.mkdir(parents=True, exist_ok=True)
    old_part = (
        _aged(uploads / "tmp123.upload", 2 * 86400) if (uploads / "tmp123.upload").write_bytes(b"x") else None
    )
    call_command("cleanup_orphans")
    assert "removed 3 orphan(s)" in capsys.readouterr().out
    assert not old_stage.exists() and not old_model.exists() and not old_part.exists()
    assert fresh_stage.exists() and kept_model.exists()


def test_beat_runs_the_cleanup(settings):
    from webapp.studies.tasks import cleanup_orphans_task

    assert settings.CELERY_BEAT_SCHEDULE["cleanup-orphans"]["task"] == cleanup_orphans_task.name
