"""DICOMweb (PS3.18) at /dicomweb/: QIDO-RS search, WADO-RS metadata, instances and frames, on
phantom CT series stored through the real ingest. Access through cohort membership, audit rows,
media types, caching headers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless, generate_uid

from tests.webapp.factories import ingest_files
from webapp.accounts.models import AuditEvent
from webapp.studies.models import Instance, Study

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]

ROLES = ("radiologist", "coordinator", "admin", "anonymous")
FRAME_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
EXPLICIT_LE = "1.2.840.10008.1.2.1"


@pytest.fixture
def ct(world, phantoms):
    """Phantom 0 stored in cohort A (ours), phantom 1 in cohort B (someone else's)."""
    ours = ingest_files(world.coordinator, world.cohort_a, phantoms.files(0))
    theirs = ingest_files(world.other_coordinator, world.cohort_b, phantoms.files(1))
    return ours, theirs


def series_uid(study: Study) -> str:
    return study.series.get().series_instance_uid


def first_instance(study: Study) -> Instance:
    return Instance.objects.filter(series__study=study).order_by("instance_number").first()


def urls(study: Study) -> dict[str, str]:
    s, se = study.study_instance_uid, series_uid(study)
    sop = first_instance(study).sop_instance_uid
    base = f"/dicomweb/studies/{s}"
    return {
        "series": f"{base}/series",
        "study-instances": f"{base}/instances",
        "instances": f"{base}/series/{se}/instances",
        "study-metadata": f"{base}/metadata",
        "metadata": f"{base}/series/{se}/metadata",
        "instance-metadata": f"{base}/series/{se}/instances/{sop}/metadata",
        "instance": f"{base}/series/{se}/instances/{sop}",
        "frames": f"{base}/series/{se}/instances/{sop}/frames/1",
        "study": base,
        "series-retrieve": f"{base}/series/{se}",
        "instance-rendered": f"{base}/series/{se}/instances/{sop}/rendered",
        "frames-rendered": f"{base}/series/{se}/instances/{sop}/frames/1/rendered",
        "instance-thumbnail": f"{base}/series/{se}/instances/{sop}/thumbnail",
        "frames-thumbnail": f"{base}/series/{se}/instances/{sop}/frames/1/thumbnail",
        "series-thumbnail": f"{base}/series/{se}/thumbnail",
        "study-thumbnail": f"{base}/thumbnail",
    }


def tag(item: dict, hex_tag: str):
    values = item.get(hex_tag, {}).get("Value", [])
    return values[0] if values else None


# --- who may read what -----------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "endpoint",
    [
        "series",
        "study-instances",
        "instances",
        "study-metadata",
        "metadata",
        "instance-metadata",
        "instance",
        "frames",
        "study",
        "series-retrieve",
        "instance-rendered",
        "frames-rendered",
        "instance-thumbnail",
        "frames-thumbnail",
        "series-thumbnail",
        "study-thumbnail",
    ],
)
def test_permissions_per_endpoint_and_role(world, ct, api, role, endpoint):
    ours, theirs = ct
    client = api(world.user(role))
    got_ours = client.get(urls(ours)[endpoint], HTTP_ACCEPT="*/*").status_code
    got_theirs = client.get(urls(theirs)[endpoint], HTTP_ACCEPT="*/*").status_code
    expected_ours = {"anonymous": 401}.get(role, 200)
    expected_theirs = {"anonymous": 401, "admin": 200}.get(role, 404)
    assert (got_ours, got_theirs) == (expected_ours, expected_theirs)


@pytest.mark.parametrize("role", ROLES)
def test_study_search_shows_only_visible_studies(world, ct, api, role):
    ours, theirs = ct
    r = api(world.user(role)).get("/dicomweb/studies")
    if role == "anonymous":
        assert r.status_code == 401
        assert r["WWW-Authenticate"].startswith("Token")
        return
    assert r.status_code == 200
    uids = {tag(s, "0020000D") for s in json.loads(r.content)}
    assert ours.study_instance_uid in uids
    assert (theirs.study_instance_uid in uids) == (role == "admin")


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("level", ["series", "instances"])
def test_top_level_series_and_instance_searches_show_only_visible_studies(world, ct, api, role, level):
    ours, theirs = ct
    r = api(world.user(role)).get(f"/dicomweb/{level}")
    if role == "anonymous":
        assert r.status_code == 401
        return
    assert r.status_code == 200
    studies = {tag(item, "0020000D") for item in json.loads(r.content)}
    assert ours.study_instance_uid in studies
    assert (theirs.study_instance_uid in studies) == (role == "admin")


def test_a_user_without_a_role_is_refused(api, ct):
    from tests.webapp.factories import UserFactory

    assert api(UserFactory(username="nobody")).get("/dicomweb/studies").status_code == 403


def test_session_authentication_works_for_the_browser(client, world, ct):
    ours, _ = ct
    client.force_login(world.radiologist)
    r = client.get(urls(ours)["metadata"], HTTP_ACCEPT="application/dicom+json")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/dicom+json"


# --- QIDO-RS ---------------------------------------------------------------------------------
def test_study_search_answers_the_dicom_json_model(world, ct, api):
    ours, _ = ct
    r = api(world.radiologist).get(
        f"/dicomweb/studies?StudyInstanceUID={ours.study_instance_uid}", HTTP_ACCEPT="application/dicom+json"
    )
    assert r.status_code == 200 and r["Content-Type"] == "application/dicom+json"
    assert "no-store" in r["Cache-Control"]
    [study] = json.loads(r.content)
    assert study["0020000D"] == {"vr": "UI", "Value": [ours.study_instance_uid]}
    assert study["00100020"] == {"vr": "LO", "Value": [ours.patient.patient_id]}
    assert tag(study, "00080061") == "CT"
    assert tag(study, "00201206") == 1
    assert tag(study, "00201208") == len(Instance.objects.filter(series__study=ours))
    if ours.patient.patient_name:
        assert study["00100010"]["Value"][0] == {"Alphabetic": ours.patient.patient_name}


def test_study_search_matching_paging_and_warnings(world, ct, api):
    ours, _ = ct
    client = api(world.radiologist)

    def uids(query: str) -> list[str]:
        r = client.get(f"/dicomweb/studies?{query}")
        assert r.status_code == 200, r.content
        return [tag(s, "0020000D") for s in json.loads(r.content)]

    pid = ours.patient.patient_id
    assert uids(f"PatientID={pid}") == [ours.study_instance_uid]
    assert uids(f"00100020={pid}") == [ours.study_instance_uid]  # the tag works as well as the keyword
    assert uids(f"PatientID={pid[:2]}*") == [ours.study_instance_uid]
    assert uids(f"PatientID={pid[:-1]}%3F") == [ours.study_instance_uid]  # "?" wildcard
    assert uids("PatientID=nobody*") == []
    assert uids(f"StudyInstanceUID=1.2.3,{ours.study_instance_uid}") == [ours.study_instance_uid]
    assert ours.study_instance_uid in uids("ModalitiesInStudy=CT")
    assert uids("ModalitiesInStudy=MR") == []
    if ours.study_date:
        day = ours.study_date.strftime("%Y%m%d")
        assert uids(f"StudyDate={day}-") == [ours.study_instance_uid]
        assert uids(f"StudyDate=-{day}") == [ours.study_instance_uid]
        assert uids("StudyDate=19000101-19001231") == []

    # world.study_a (a factory study in cohort A) makes two: page them
    first = client.get("/dicomweb/studies?limit=1")
    assert len(json.loads(first.content)) == 1
    assert "299" in first["Warning"] and "offset" in first["Warning"]
    second = client.get("/dicomweb/studies?limit=1&offset=1")
    assert len(json.loads(second.content)) == 1
    assert json.loads(first.content) != json.loads(second.content)
    assert "Warning" not in second

    odd = client.get("/dicomweb/studies?fuzzymatching=true&Colour=blue&includefield=all")
    assert odd.status_code == 200
    assert "fuzzymatching" in odd["Warning"] and "Colour" in odd["Warning"]

    for bad in ("limit=0", "limit=x", "offset=-1", "StudyDate=2024-13-45"):
        r = client.get(f"/dicomweb/studies?{bad}")
        assert r.status_code == 400, bad
        assert r.json()["detail"]


def test_series_and_instance_search(world, ct, api):
    ours, _ = ct
    client = api(world.radiologist)
    [series] = json.loads(client.get(urls(ours)["series"]).content)
    n = Instance.objects.filter(series__study=ours).count()
    assert tag(series, "00080060") == "CT"
    assert tag(series, "0020000E") == series_uid(ours)
    assert tag(series, "00201209") == n
    assert json.loads(client.get(f"{urls(ours)['series']}?Modality=MR").content) == []

    instances = json.loads(client.get(urls(ours)["instances"]).content)
    assert len(instances) == n
    numbers = [tag(i, "00200013") for i in instances]
    assert numbers == sorted(numbers)
    one = instances[0]
    assert tag(one, "00083002") == EXPLICIT_LE
    assert tag(one, "00081190").endswith(f"/instances/{tag(one, '00080018')}")
    assert tag(one, "00280010") == first_instance(ours).rows
    by_number = client.get(f"{urls(ours)['instances']}?InstanceNumber={numbers[1]}")
    assert [tag(i, "00200013") for i in json.loads(by_number.content)] == [numbers[1]]
    assert json.loads(client.get(urls(ours)["study-instances"]).content) == instances


def test_json_endpoints_refuse_other_media_types(world, ct, api):
    ours, _ = ct
    r = api(world.radiologist).get(urls(ours)["metadata"], HTTP_ACCEPT="image/png")
    assert r.status_code == 406
    assert "dicom+json" in r.json()["detail"]


def test_unknown_uids_are_not_found(world, ct, api):
    ours, _ = ct
    client = api(world.radiologist)
    assert client.get("/dicomweb/studies/1.2.3.4/series").status_code == 404
    # a series of another study, addressed under ours
    other = f"/dicomweb/studies/{ours.study_instance_uid}/series/9.9.9/metadata"
    assert client.get(other).status_code == 404


# --- WADO-RS metadata ------------------------------------------------------------------------
def test_series_metadata_is_the_files_header_without_pixels_and_is_audited_once(world, ct, api, phantoms):
    ours, _ = ct
    before = AuditEvent.objects.count()
    r = api(world.radiologist).get(urls(ours)["metadata"], HTTP_ACCEPT="application/dicom+json")
    assert r.status_code == 200
    metadata = json.loads(r.content)
    files = phantoms.files(0)
    assert len(metadata) == len(files)
    sample = {tag(m, "00080018"): m for m in metadata}
    ds = pydicom.dcmread(files[0], stop_before_pixels=True)
    item = sample[ds.SOPInstanceUID]
    assert "7FE00010" not in item
    assert item["00020010"] == {"vr": "UI", "Value": [EXPLICIT_LE]}
    assert item["00200032"]["Value"] == pytest.approx([float(v) for v in ds.ImagePositionPatient])
    assert item["00280030"]["Value"] == pytest.approx([float(v) for v in ds.PixelSpacing])
    assert tag(item, "00281053") == pytest.approx(float(ds.RescaleSlope))

    events = AuditEvent.objects.filter(action="study.dicomweb_metadata")
    assert AuditEvent.objects.count() == before + 1
    [event] = events
    assert event.actor == world.radiologist and event.object_id == str(ours.pk)
    assert event.details["instances"] == len(files)
    assert event.details["series_instance_uids"] == [series_uid(ours)]


# --- WADO-RS frames and instances --------------------------------------------------------------
def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    boundary = content_type.split("boundary=")[1].split(";")[0].strip('"').encode()
    parts = []
    for chunk in body.split(b"--" + boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, payload = chunk.partition(b"\r\n\r\n")
        assert payload.endswith(b"\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().strip().split("\r\n"))
        parts.append((headers["Content-Type"], payload[:-2]))
    return parts


def expected_pixels(path: Path) -> bytes:
    arr = pydicom.dcmread(path).pixel_array
    return np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes()


def test_frame_is_the_uncompressed_pixel_data_in_a_multipart_body(world, ct, api):
    ours, _ = ct
    instance = first_instance(ours)
    before = AuditEvent.objects.count()
    r = api(world.radiologist).get(urls(ours)["frames"], HTTP_ACCEPT=FRAME_ACCEPT)
    assert r.status_code == 200
    assert r["Content-Type"].startswith('multipart/related; type="application/octet-stream"; boundary=')
    [(part_type, pixels)] = parse_multipart(r["Content-Type"], b"".join(r.streaming_content))
    assert part_type == f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"
    assert pixels == expected_pixels(instance.absolute_path)
    assert len(pixels) == instance.rows * instance.columns * 2
    # cacheable in the browser only, revalidated by ETag; frames are not audited one by one
    assert r["Cache-Control"] == "private, max-age=3600"
    assert "Cookie" in r["Vary"] and "Authorization" in r["Vary"]
    assert AuditEvent.objects.count() == before
    again = api(world.radiologist).get(
        urls(ours)["frames"], HTTP_ACCEPT=FRAME_ACCEPT, HTTP_IF_NONE_MATCH=r["ETag"]
    )
    assert again.status_code == 304 and again.content == b""
    # revalidation still checks access
    assert (
        api(world.other_coordinator).get(urls(ours)["frames"], HTTP_IF_NONE_MATCH=r["ETag"]).status_code
        == 404
    )


def test_frame_media_types_and_frame_numbers(world, ct, api):
    ours, _ = ct
    client = api(world.radiologist)
    frames = urls(ours)["frames"]
    single = client.get(frames, HTTP_ACCEPT="application/octet-stream")
    assert single.status_code == 200
    assert single["Content-Type"] == f"application/octet-stream; transfer-syntax={EXPLICIT_LE}"
    assert single.content == expected_pixels(first_instance(ours).absolute_path)
    assert (
        client.get(frames, HTTP_ACCEPT="multipart/related; type=application/octet-stream").status_code == 200
    )
    assert (
        client.get(
            frames,
            HTTP_ACCEPT=f"multipart/related; type=application/octet-stream; transfer-syntax={EXPLICIT_LE}",
        ).status_code
        == 200
    )
    refused = client.get(frames, HTTP_ACCEPT='multipart/related; type="image/jls"')
    assert refused.status_code == 406 and "octet-stream" in refused.json()["detail"]
    assert (
        client.get(
            frames,
            HTTP_ACCEPT="multipart/related; type=application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50",
        ).status_code
        == 406
    )
    assert client.get(frames[:-1] + "2").status_code == 404  # single-frame instance
    assert client.get(frames[:-1] + "0").status_code == 404
    assert client.get(frames[:-1] + "1,x").status_code == 400


def test_frame_lists_are_distinct_and_bounded(world, ct, api, settings):
    """A URL of 1,1,1,... once returned 1500 copies built in memory (issue 12, finding 9)."""
    ours, _ = ct
    client = api(world.radiologist)
    base = urls(ours)["frames"][:-1]
    repeated = client.get(base + ",".join(["1"] * 1500), HTTP_ACCEPT=FRAME_ACCEPT)
    assert repeated.status_code == 400 and "once" in repeated.json()["detail"]
    settings.DICOMWEB_MAX_FRAMES_PER_REQUEST = 3
    many = client.get(base + "1,2,3,4", HTTP_ACCEPT=FRAME_ACCEPT)
    assert many.status_code == 400 and "at most 3 frames" in many.json()["detail"]
    one = client.get(base + "1", HTTP_ACCEPT=FRAME_ACCEPT)
    assert one.status_code == 200 and one.streaming  # multipart frames are streamed


def test_compressed_instances_are_served_decoded_or_as_stored(world, api, phantoms, tmp_path):
    """An RLE Lossless copy of a phantom slice: the frame comes back as plain pixels, or as the
    stored RLE bitstream to a client that asks for it."""
    source = phantoms.files(2)[5]
    ds = pydicom.dcmread(source)
    ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.compress(RLELossless)
    path = tmp_path / "rle.dcm"
    ds.save_as(path, enforce_file_format=True)
    study = ingest_files(world.coordinator, world.cohort_a, [path])
    instance = Instance.objects.get(sop_instance_uid=ds.SOPInstanceUID)
    assert instance.transfer_syntax_uid == RLELossless
    se, sop = instance.series.series_instance_uid, instance.sop_instance_uid
    base = f"/dicomweb/studies/{study.study_instance_uid}/series/{se}/instances/{sop}"
    r = api(world.radiologist).get(f"{base}/frames/1", HTTP_ACCEPT=FRAME_ACCEPT)
    assert r.status_code == 200
    [(_, pixels)] = parse_multipart(r["Content-Type"], b"".join(r.streaming_content))
    assert pixels == expected_pixels(source)
    [meta] = json.loads(api(world.radiologist).get(f"{base}/metadata").content)
    assert meta["00020010"]["Value"] == [EXPLICIT_LE]  # what the frames are served as
    # A client that names the stored syntax by its media type gets the stored bitstream as it is.
    stored = 'multipart/related; type="image/x-dicom-rle"; transfer-syntax=1.2.840.10008.1.2.5'
    r = api(world.radiologist).get(f"{base}/frames/1", HTTP_ACCEPT=stored)
    assert r.status_code == 200 and 'type="image/x-dicom-rle"' in r["Content-Type"]
    [(part_type, bitstream)] = parse_multipart(r["Content-Type"], b"".join(r.streaming_content))
    assert part_type == f"image/x-dicom-rle; transfer-syntax={RLELossless}"
    from pydicom.encaps import generate_frames

    assert bitstream == next(generate_frames(ds.PixelData, number_of_frames=1))


def test_instance_is_the_stored_file_and_its_download_is_audited(world, ct, api):
    ours, _ = ct
    instance = first_instance(ours)
    client = api(world.radiologist)
    plain = client.get(urls(ours)["instance"], HTTP_ACCEPT="application/dicom")
    assert plain.status_code == 200 and plain["Content-Type"] == "application/dicom"
    assert b"".join(plain.streaming_content) == instance.absolute_path.read_bytes()
    wrapped = client.get(urls(ours)["instance"], HTTP_ACCEPT='multipart/related; type="application/dicom"')
    body = b"".join(wrapped.streaming_content)
    assert int(wrapped["Content-Length"]) == len(body)
    [(part_type, data)] = parse_multipart(wrapped["Content-Type"], body)
    assert part_type == "application/dicom"
    assert pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID == instance.sop_instance_uid
    assert client.get(urls(ours)["instance"], HTTP_ACCEPT="image/png").status_code == 406
    events = AuditEvent.objects.filter(action="study.dicomweb_instance_retrieved", actor=world.radiologist)
    assert events.count() == 2
    assert events.first().details["sop_instance_uid"] == instance.sop_instance_uid


def test_a_missing_stored_file_is_a_clear_server_error(world, ct, api):
    ours, _ = ct
    instance = first_instance(ours)
    instance.absolute_path.unlink()
    r = api(world.radiologist).get(urls(ours)["frames"], HTTP_ACCEPT=FRAME_ACCEPT)
    assert r.status_code == 500
    assert "stored file" in r.json()["detail"]


def test_series_metadata_is_read_once_then_served_from_memory(world, ct, api, phantoms, monkeypatch):
    from webapp.dicomweb import cache, files

    ours, _ = ct
    cache.clear()
    reads = []
    real = files.instance_metadata
    monkeypatch.setattr(files, "instance_metadata", lambda path: reads.append(path) or real(path))
    client = api(world.radiologist)
    first = json.loads(client.get(urls(ours)["metadata"]).content)
    n = len(reads)
    assert n == len(phantoms.files(0))
    assert json.loads(client.get(urls(ours)["metadata"]).content) == first
    assert len(reads) == n  # from memory
    assert AuditEvent.objects.filter(action="study.dicomweb_metadata").count() == 2  # each view audited
    # a slice added to the series changes what the metadata is: read again
    extra = phantoms.files(0)[0]
    ds = pydicom.dcmread(extra)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = 999
    path = phantoms.root.parent / f"extra-{ds.SOPInstanceUID[-8:]}.dcm"
    ds.save_as(path, enforce_file_format=True)
    ingest_files(world.coordinator, world.cohort_a, [path])
    assert len(json.loads(client.get(urls(ours)["metadata"]).content)) == n + 1
    assert len(reads) == 2 * n + 1


def test_concurrent_metadata_reads_leave_pydicom_in_its_lenient_mode(phantoms):
    """pydicom's strict mode around the JSON conversion is process-wide: overlapping requests
    once left the whole process strict, and every later read of a slightly invalid file raised."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from pydicom import config

    from webapp.dicomweb import files

    before = config.settings.reading_validation_mode
    paths = phantoms.files(0)[:4] * 25
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy server does
    try:
        with ThreadPoolExecutor(8) as pool:
            assert all(pool.map(files.instance_metadata, paths))
    finally:
        sys.setswitchinterval(interval)
    assert config.settings.reading_validation_mode == before == config.WARN
