"""FusionScreen's DICOMweb used by clients from the field (issue 16): ``dicomweb-client`` (PyPI)
and Orthanc's DICOMweb plugin pointed at FusionScreen as a remote server, both against the site
served by a live server on loopback, signed in with an API token."""

from __future__ import annotations

import io

import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from knox.models import AuthToken
from PIL import Image

from tests.webapp.factories import ingest_files
from tests.webapp.orthanc import Orthanc
from webapp.accounts.models import AuditEvent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture
def site(live_server, world, phantoms):
    """Phantom 0 in cohort A, a radiologist's token, and the DICOMweb root."""
    study = ingest_files(world.coordinator, world.cohort_a, phantoms.files(0))
    _, token = AuthToken.objects.create(user=world.radiologist)
    return study, f"{live_server.url}/dicomweb", {"Authorization": f"Token {token}"}


def test_dicomweb_client_searches_retrieves_and_renders(site, phantoms):
    study, root, headers = site
    client = DICOMwebClient(root, headers=headers)
    uid = study.study_instance_uid
    [found] = client.search_for_studies(search_filters={"StudyInstanceUID": uid})
    assert found["0020000D"]["Value"] == [uid]
    [series] = client.search_for_series(uid)
    series_uid = series["0020000E"]["Value"][0]
    assert [
        s["0020000E"]["Value"][0] for s in client.search_for_series(search_filters={"StudyInstanceUID": uid})
    ] == [series_uid]
    instances = client.search_for_instances(uid, series_uid)
    assert len(instances) == len(phantoms.files(0))
    expected = {pydicom.dcmread(f).SOPInstanceUID for f in phantoms.files(0)}
    # whole study and series, as datasets identical to what was stored
    assert {ds.SOPInstanceUID for ds in client.retrieve_study(uid)} == expected
    assert {ds.SOPInstanceUID for ds in client.retrieve_series(uid, series_uid)} == expected
    sop = instances[0]["00080018"]["Value"][0]
    stored = pydicom.dcmread(next(f for f in phantoms.files(0) if pydicom.dcmread(f).SOPInstanceUID == sop))
    retrieved = client.retrieve_instance(uid, series_uid, sop)
    assert retrieved.PixelData == stored.PixelData
    metadata = client.retrieve_study_metadata(uid)
    assert len(metadata) == len(expected)
    [frame] = client.retrieve_instance_frames(uid, series_uid, sop, frame_numbers=[1])
    assert frame == stored.pixel_array.astype(stored.pixel_array.dtype.newbyteorder("<")).tobytes()
    # rendered: a JPEG of the slice, and a PNG when asked
    jpeg = client.retrieve_instance_rendered(uid, series_uid, sop)
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG" and picture.size == (stored.Columns, stored.Rows)
    png = client.retrieve_instance_rendered(uid, series_uid, sop, media_types=("image/png",))
    assert Image.open(io.BytesIO(png)).format == "PNG"
    thumb = requests.get(f"{root}/studies/{uid}/thumbnail", headers=headers, timeout=30)
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) <= 128
    assert AuditEvent.objects.filter(action="study.dicomweb_retrieved", actor__username="rad").count() == 2


def test_a_window_changes_the_rendering(site):
    study, root, headers = site
    client = DICOMwebClient(root, headers=headers)
    uid = study.study_instance_uid
    [series] = client.search_for_series(uid)
    series_uid = series["0020000E"]["Value"][0]
    sop = client.search_for_instances(uid, series_uid)[0]["00080018"]["Value"][0]
    base = f"{root}/studies/{uid}/series/{series_uid}/instances/{sop}/rendered"
    lung = requests.get(
        base, params={"window": "-600,1500,linear"}, headers={**headers, "Accept": "image/png"}, timeout=30
    )
    bone = requests.get(
        base, params={"window": "400,1800,linear"}, headers={**headers, "Accept": "image/png"}, timeout=30
    )
    assert lung.status_code == bone.status_code == 200
    assert lung.content != bone.content
    bad = requests.get(base, params={"window": "1,0"}, headers=headers, timeout=30)
    assert bad.status_code == 400


def test_orthanc_retrieves_a_study_from_fusionscreen_as_a_dicomweb_server(site, tmp_path, phantoms):
    study, root, headers = site
    pacs = Orthanc(
        tmp_path / "orthanc", dicomweb_servers={"fusionscreen": {"Url": f"{root}/", "HttpHeaders": headers}}
    )
    try:
        r = pacs.post(
            "/dicom-web/servers/fusionscreen/retrieve",
            {"Resources": [{"Study": study.study_instance_uid}], "Synchronous": True},
        )
        assert r.ok, r.text + pacs.log()[-2000:]
        assert pacs.study_uids() == [study.study_instance_uid]
        held = pacs.instances_of(study.study_instance_uid)
        assert len(held) == len(phantoms.files(0))
    finally:
        pacs.stop()
