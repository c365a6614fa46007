"""Ingest through POST /api/cohorts/{id}/upload/: verdicts, grouping, de-duplication, archive
safety, limits and all-or-nothing storage."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError
from pydicom.uid import generate_uid

from detector.io import read_series
from tests.webapp.conftest import zip_bytes, zip_folder
from tests.webapp.factories import InstanceFactory
from webapp.accounts.models import AuditEvent
from webapp.cohorts import services as cohort_services
from webapp.cohorts.models import CohortStudy
from webapp.studies import ingest
from webapp.studies.models import Instance, Patient, Series, Study

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def upload(client, cohort, parts: list[tuple[str, bytes]]):
    files = [SimpleUploadedFile(name, data) for name, data in parts]
    return client.post(f"/api/cohorts/{cohort.pk}/upload/", {"file": files}, format="multipart")


def verdicts(response) -> dict[str, tuple[str, str]]:
    assert response.status_code == 200, response.content[:500]
    return {f["name"]: (f["verdict"], f["reason"]) for f in response.json()["files"]}


def stored_files(media: Path) -> list[Path]:
    return sorted(p for p in media.rglob("*") if p.is_file())


def staging_is_empty(media: Path) -> bool:
    staging = media / ".staging"
    return not staging.exists() or not any(staging.iterdir())


def rewrite(path: Path, **changes) -> bytes:
    """A copy of a DICOM file with some attributes changed, as bytes."""
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def new_series(files: list[Path], **changes) -> list[tuple[str, bytes]]:
    """The same slices re-issued as a new series (fresh series and SOP UIDs)."""
    series_uid = generate_uid()
    out = []
    for p in files:
        sop = generate_uid()
        data = rewrite(p, SeriesInstanceUID=series_uid, SOPInstanceUID=sop, **changes)
        ds = pydicom.dcmread(io.BytesIO(data))
        ds.file_meta.MediaStorageSOPInstanceUID = sop
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append((f"{series_uid[-6:]}-{p.name}", buf.getvalue()))
    return out


# --- the normal path ---------------------------------------------------------------------------
def test_phantom_series_as_files_is_stored_and_indexed(world, api, phantoms, settings):
    files = phantoms.files(0)
    r = upload(api(world.coordinator), world.cohort_a, [(p.name, p.read_bytes()) for p in files])
    body = r.json()
    assert r.status_code == 200
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (len(files), 0, 0)
    study = Study.objects.get(pk=body["study_ids"][0])
    assert study.series.count() == 1 and Instance.objects.filter(series__study=study).count() == len(files)
    assert CohortStudy.objects.filter(cohort=world.cohort_a, study=study).exists()
    assert len(stored_files(Path(settings.MEDIA_ROOT))) == len(files)
    assert staging_is_empty(Path(settings.MEDIA_ROOT))
    event = AuditEvent.objects.get(action="cohort.upload")
    assert event.actor == world.coordinator and event.details["accepted"] == len(files)
    assert event.ip_address == "127.0.0.1"


def test_zip_of_a_cohort_groups_patients_and_the_detector_reads_the_stored_series(world, api, phantoms):
    data = zip_folder(phantoms.series_dirs, phantoms.root)
    r = upload(api(world.coordinator), world.cohort_a, [("cohort.zip", data)])
    body = r.json()
    assert body["rejected"] == 0 and body["accepted"] == sum(len(phantoms.files(i)) for i in range(3))
    assert len(body["study_ids"]) == 3
    assert Patient.objects.filter(patient_id__startswith="FS-").count() == 3
    for series in Series.objects.filter(study_id__in=body["study_ids"]):
        volume = read_series(series.folder)  # the storage layout is what the detector reads
        assert volume.hu.shape[0] == series.instances.count()


def test_two_series_mixed_in_one_zip_folder_become_two_series(world, api, phantoms):
    first = [(p.name, p.read_bytes()) for p in phantoms.files(0)]
    second = new_series(phantoms.files(0), SeriesNumber=2)
    mixed = {
        f"mixed/{i:04d}.dcm": data
        for i, (_, data) in enumerate(sorted(first + second, key=lambda t: t[0][-8:]))
    }
    body = upload(api(world.coordinator), world.cohort_a, [("mixed.zip", zip_bytes(mixed))]).json()
    assert body["rejected"] == 0 and body["accepted"] == len(first) + len(second)
    (study_id,) = body["study_ids"]
    counts = sorted(s.instances.count() for s in Series.objects.filter(study_id=study_id))
    assert counts == [len(first), len(second)]


# --- duplicates ----------------------------------------------------------------------------------
def test_reupload_is_duplicate_and_stores_nothing_twice(world, api, phantoms, settings):
    parts = [(p.name, p.read_bytes()) for p in phantoms.files(1)]
    client = api(world.coordinator)
    upload(client, world.cohort_a, parts)
    n_files = len(stored_files(Path(settings.MEDIA_ROOT)))
    again = verdicts(upload(client, world.cohort_a, parts))
    assert {v for v, _ in again.values()} == {"duplicate"}
    assert all("already stored (same content)" in reason for _, reason in again.values())
    assert len(stored_files(Path(settings.MEDIA_ROOT))) == n_files
    assert Instance.objects.count() == len(parts) + 2  # + the two factory instances


def test_same_instance_twice_in_one_upload(world, api, phantoms):
    p = phantoms.files(0)[0]
    got = verdicts(
        upload(api(world.coordinator), world.cohort_a, [("a.dcm", p.read_bytes()), ("b.dcm", p.read_bytes())])
    )
    assert got["a.dcm"][0] == "accepted"
    assert got["b.dcm"] == ("duplicate", "same SOPInstanceUID as a.dcm in this upload")


def test_duplicate_known_to_the_user_links_the_study_into_another_of_their_cohorts(world, api, phantoms):
    parts = [(p.name, p.read_bytes()) for p in phantoms.files(2)]
    upload(api(world.coordinator), world.cohort_a, parts)
    second = cohort_services.create_cohort(world.coordinator, name="again", purpose="calibration")
    body = upload(api(world.coordinator), second, parts).json()
    assert body["duplicate"] == len(parts)
    assert CohortStudy.objects.filter(cohort=second, study_id__in=body["study_ids"]).count() == 1


def test_images_of_a_study_in_someone_elses_cohort_are_refused(world, api, phantoms):
    parts = [(p.name, p.read_bytes()) for p in phantoms.files(0)]
    upload(api(world.other_coordinator), world.cohort_b, parts)
    got = verdicts(upload(api(world.coordinator), world.cohort_a, parts + new_series(phantoms.files(0)[:2])))
    assert {v for v, _ in got.values()} == {"rejected"}
    assert all("cohort you do not have access to" in reason for _, reason in got.values())
    assert not CohortStudy.objects.filter(
        cohort=world.cohort_a, study__patient__patient_id__startswith="FS-"
    ).exists()
    # an admin sees every cohort, so the same upload is a duplicate and links the study
    body = upload(api(world.admin), world.cohort_a, parts).json()
    assert body["duplicate"] == len(parts)


# --- bad input -----------------------------------------------------------------------------------
def test_non_ct_series_is_rejected(world, api, phantoms):
    mr = new_series(phantoms.files(0)[:3], Modality="MR", SOPClassUID="1.2.840.10008.5.1.4.1.1.4")
    got = verdicts(upload(api(world.coordinator), world.cohort_a, mr))
    assert {v for v, _ in got.values()} == {"rejected"}
    assert all(reason.startswith("modality MR, not CT") for _, reason in got.values())


def test_ct_modality_secondary_capture_is_not_a_ct_image(world, api, phantoms):
    (sc,) = new_series(phantoms.files(0)[:1], SOPClassUID="1.2.840.10008.5.1.4.1.1.7")
    ((_, (verdict, reason)),) = verdicts(upload(api(world.coordinator), world.cohort_a, [sc])).items()
    assert verdict == "rejected" and "Secondary Capture" in reason and "not a CT image" in reason


def test_truncated_files_are_rejected_with_the_reason(world, api, phantoms):
    data = phantoms.files(0)[0].read_bytes()
    parts = [
        ("cut-in-pixels.dcm", data[: len(data) - 999]),
        ("cut-in-header.dcm", data[:700]),
        ("preamble-only.dcm", data[:132]),
        ("empty.dcm", b""),
        ("text.dcm", b"hello, not DICOM\n" * 20),
    ]
    got = verdicts(upload(api(world.coordinator), world.cohort_a, parts))
    assert got["cut-in-pixels.dcm"][0] == "rejected"
    assert got["cut-in-pixels.dcm"][1].startswith("truncated or inconsistent pixel data")
    assert got["cut-in-header.dcm"] == ("rejected", "no pixel data: the file is truncated or is not an image")
    assert got["preamble-only.dcm"][0] == "rejected"
    assert got["empty.dcm"][1].startswith("not a DICOM file")
    assert got["text.dcm"][1].startswith("not a DICOM file")
    assert Instance.objects.count() == 2  # only the factory rows


def test_truncated_compressed_ct_is_rejected(world, api):
    data_store = pytest.importorskip("data_store")
    path = Path(data_store.__file__).parent / "data" / "693_J2KR.dcm"
    data = path.read_bytes()
    got = verdicts(
        upload(api(world.coordinator), world.cohort_a, [("j2k-cut.dcm", data[:-500]), ("j2k.dcm", data)])
    )
    assert got["j2k-cut.dcm"][0] == "rejected" and "truncated" in got["j2k-cut.dcm"][1]
    assert got["j2k.dcm"][0] in {"accepted", "rejected"}  # whole file: a verdict either way


def test_zip_entries_with_parent_or_absolute_paths_are_refused(world, api, phantoms, settings, tmp_path):
    good, evil = (p.read_bytes() for p in phantoms.files(0)[:2])
    archive = zip_bytes(
        {
            "../evil.dcm": evil,
            "ok/../../evil2.dcm": evil,
            "/tmp/evil3.dcm": evil,
            "C:/evil4.dcm": evil,
            "..\\evil5.dcm": evil,
            "series/good.dcm": good,
        }
    )
    got = verdicts(upload(api(world.coordinator), world.cohort_a, [("trap.zip", archive)]))
    assert got["trap.zip/series/good.dcm"][0] == "accepted"
    for name in ("../evil.dcm", "ok/../../evil2.dcm", "..\\evil5.dcm"):
        assert got[f"trap.zip/{name}"] == (
            "rejected",
            "zip entry refused: '..' in its path (entries must stay inside the archive)",
        )
    for name in ("/tmp/evil3.dcm", "C:/evil4.dcm"):
        assert got[f"trap.zip/{name}"][1].startswith("zip entry refused: absolute path")
    assert not list(tmp_path.rglob("evil*")) and not Path("/tmp/evil3.dcm").exists()
    assert len(stored_files(Path(settings.MEDIA_ROOT))) == 1


def test_zip_bomb_refused_from_the_central_directory(world, api, settings):
    settings.INGEST_ZIP_MAX_UNCOMPRESSED_BYTES = 32 * 1024**2
    bomb = zip_bytes({f"slice{i}.dcm": bytes(16 * 1024**2) for i in range(3)})  # 48 MiB of zeros in ~50 KiB
    ((name, (verdict, reason)),) = verdicts(
        upload(api(world.coordinator), world.cohort_a, [("bomb.zip", bomb)])
    ).items()
    assert (name, verdict) == ("bomb.zip", "rejected")
    assert "would expand to 48.0 MiB, over the 32.0 MiB limit" in reason
    assert staging_is_empty(Path(settings.MEDIA_ROOT))


def test_zip_bomb_refused_by_its_compression_ratio(world, api, settings):
    bomb = zip_bytes({"slice.dcm": bytes(8 * 1024**2)})  # under the size limit, ratio ~1000:1
    ((_, (verdict, reason)),) = verdicts(
        upload(api(world.coordinator), world.cohort_a, [("ratio.zip", bomb)])
    ).items()
    assert verdict == "rejected" and "compression ratio" in reason and "zip bomb" in reason


def test_zip_that_lies_about_sizes_is_stopped_while_extracting(world, api, settings):
    archive = bytearray(zip_bytes({"liar.dcm": bytes(4 * 1024**2)}))
    # Claim 1000 bytes uncompressed in both headers: the ratio checks pass, extraction must not.
    struct.pack_into("<I", archive, archive.find(b"PK\x03\x04") + 22, 1000)
    struct.pack_into("<I", archive, archive.find(b"PK\x01\x02") + 24, 1000)
    got = verdicts(upload(api(world.coordinator), world.cohort_a, [("liar.zip", bytes(archive))]))
    assert got["liar.zip/liar.dcm"][0] == "rejected"
    assert (
        "corrupt zip entry" in got["liar.zip/liar.dcm"][1] or "inflates past" in got["liar.zip/liar.dcm"][1]
    )
    assert staging_is_empty(Path(settings.MEDIA_ROOT))


def test_odd_archives_get_clear_verdicts(world, api, phantoms):
    inner = zip_bytes({"x.dcm": phantoms.files(0)[0].read_bytes()})
    parts = [
        ("nested.zip", zip_bytes({"inner.zip": inner})),
        ("broken.zip", b"PK\x03\x04 this is not really a zip"),
        ("empty.zip", zip_bytes({})),
    ]
    got = verdicts(upload(api(world.coordinator), world.cohort_a, parts))
    assert got["nested.zip/inner.zip"][1].startswith("a zip inside a zip is not opened")
    assert got["broken.zip"][1].startswith("not a readable zip archive")
    assert "empty.zip" not in got  # an empty archive holds no file to judge


def test_oversize_part_is_rejected_and_the_rest_is_kept(world, api, phantoms, settings):
    settings.INGEST_MAX_FILE_BYTES = 100_000
    good = phantoms.files(0)[0]
    got = verdicts(
        upload(
            api(world.coordinator),
            world.cohort_a,
            [("huge.bin", bytes(300_000)), (good.name, good.read_bytes())],
        )
    )
    assert got["huge.bin"][0] == "rejected" and "limit per uploaded file" in got["huge.bin"][1]
    assert got[good.name][0] == "accepted"


def test_request_over_the_total_limit_is_413_and_stores_nothing(world, api, phantoms, settings):
    settings.INGEST_MAX_REQUEST_BYTES = 50_000
    parts = [(p.name, p.read_bytes()) for p in phantoms.files(0)[:10]]
    r = upload(api(world.coordinator), world.cohort_a, parts)
    assert r.status_code == 413 and "limit per request" in r.json()["detail"]
    assert Instance.objects.count() == 2 and stored_files(Path(settings.MEDIA_ROOT)) == []


def test_no_file_field_is_400(world, api):
    r = api(world.coordinator).post(f"/api/cohorts/{world.cohort_a.pk}/upload/", {}, format="multipart")
    assert r.status_code == 400 and "file" in r.json()


# --- all or nothing --------------------------------------------------------------------------------
class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("where", ["moving files", "writing the audit row"])
def test_failure_mid_ingest_leaves_no_rows_and_no_files(world, phantoms, settings, monkeypatch, where):
    media = Path(settings.MEDIA_ROOT)
    if where == "moving files":
        real_place = ingest.IngestBatch._place
        calls = {"n": 0}

        def flaky_place(self, src, dst):
            calls["n"] += 1
            if calls["n"] == 5:  # four files already moved into place
                raise Boom("disk full")
            return real_place(self, src, dst)

        monkeypatch.setattr(ingest.IngestBatch, "_place", flaky_place)
    else:

        def failing_audit(*args, **kwargs):
            raise Boom("audit database gone")

        monkeypatch.setattr(cohort_services, "audit", failing_audit)
    before = (
        Patient.objects.count(),
        Study.objects.count(),
        Series.objects.count(),
        Instance.objects.count(),
    )
    uploads = [SimpleUploadedFile(p.name, p.read_bytes()) for p in phantoms.files(0)]
    with pytest.raises(Boom):
        cohort_services.upload_to_cohort(world.coordinator, world.cohort_a, uploads)
    after = (Patient.objects.count(), Study.objects.count(), Series.objects.count(), Instance.objects.count())
    assert after == before
    assert CohortStudy.objects.filter(cohort=world.cohort_a).count() == 1  # the factory study only
    assert not AuditEvent.objects.filter(action="cohort.upload").exists()
    assert stored_files(media) == []
    assert not (media / "dicom").exists() or not any((media / "dicom").iterdir())


def test_a_concurrent_upload_of_the_same_image_is_decided_again(world, phantoms, monkeypatch):
    """A unique-constraint race (another upload stored one instance first) retries the commit,
    which then sees that instance as stored by someone else."""
    files = phantoms.files(1)[:3]
    sop = pydicom.dcmread(files[0], stop_before_pixels=True).SOPInstanceUID
    real_bulk_create = Instance.objects.bulk_create
    real_discard = ingest.IngestBatch.discard_placed
    state = {"raced": False}

    def bulk_create_loses_the_race(objs, **kwargs):
        if not state["raced"]:
            raise IntegrityError("duplicate key value violates unique constraint")
        return real_bulk_create(objs, **kwargs)

    def discard_then_other_upload_commits(self, *, restage=False):
        real_discard(self, restage=restage)
        if not state["raced"]:
            state["raced"] = True
            InstanceFactory(sop_instance_uid=sop)  # the other upload's row, now committed

    monkeypatch.setattr(Instance.objects, "bulk_create", bulk_create_loses_the_race)
    monkeypatch.setattr(ingest.IngestBatch, "discard_placed", discard_then_other_upload_commits)
    uploads = [SimpleUploadedFile(p.name, p.read_bytes()) for p in files]
    result = cohort_services.upload_to_cohort(world.coordinator, world.cohort_a, uploads)
    by_name = {f.name: f for f in result.files}
    assert by_name[files[0].name].verdict == "rejected"  # stored meanwhile, in a cohort not ours
    assert by_name[files[1].name].verdict == by_name[files[2].name].verdict == "accepted"
    assert Instance.objects.filter(series__study_id__in=result.study_ids).count() == 2
    assert all(
        i.absolute_path.is_file() for i in Instance.objects.filter(series__study_id__in=result.study_ids)
    )


def test_integrity_error_every_time_gives_up_cleanly(world, phantoms, settings, monkeypatch):
    def always_conflict(*args, **kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(Instance.objects, "bulk_create", always_conflict)
    uploads = [SimpleUploadedFile(p.name, p.read_bytes()) for p in phantoms.files(0)[:2]]
    with pytest.raises(IntegrityError):
        cohort_services.upload_to_cohort(world.coordinator, world.cohort_a, uploads)
    assert stored_files(Path(settings.MEDIA_ROOT)) == []


def test_many_parts_do_not_hold_a_descriptor_each(world, api, phantoms, monkeypatch, settings):
    """A browser folder upload sends one part per slice; descriptors must not grow with them."""
    real_upload = cohort_services.upload_to_cohort
    seen = {}

    def counting_upload(user, cohort, uploads):
        seen["fds"] = len(os.listdir("/proc/self/fd"))
        return real_upload(user, cohort, uploads)

    monkeypatch.setattr(cohort_services, "upload_to_cohort", counting_upload)
    before = len(os.listdir("/proc/self/fd"))
    parts = [(f"{i}.bin", b"x" * 100) for i in range(400)] + [
        (p.name, p.read_bytes()) for p in phantoms.files(0)
    ]
    body = upload(api(world.coordinator), world.cohort_a, parts).json()
    assert body["rejected"] == 400 and body["accepted"] == len(phantoms.files(0))
    assert seen["fds"] - before < 50
    assert not any(Path(settings.FILE_UPLOAD_TEMP_DIR).iterdir())  # temporary parts removed with the request
