"""Every real DICOM test file shipped with pydicom and pydicom-data goes through the upload API.

Each must get a clear verdict (accepted, duplicate, or rejected with a reason), never a 5xx, and
what is stored must match the verdicts exactly. The files are found on disk directly:
pydicom.data.get_testdata_file() may try to download.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from webapp.studies.models import Instance

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]

PYDICOM_DIR = Path(pydicom.__file__).parent / "data" / "test_files"


def _data_store_dir() -> Path | None:
    try:
        import data_store  # installed by the pydicom-data package
    except ImportError:
        return None
    return Path(data_store.__file__).parent / "data"


def real_files() -> list[tuple[str, Path]]:
    out = []
    for tag, root in {"pydicom": PYDICOM_DIR, "pydicom-data": _data_store_dir()}.items():
        if root is None or not root.is_dir():
            continue
        for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")):
            out.append((f"{tag}/{path.relative_to(root).as_posix()}", path))
    return out


# Reasons a rejection may give: each names the problem in words (tested so a raw exception text
# or an empty reason cannot slip through as a "verdict").
REASON_PREFIXES = (
    "not a DICOM file",
    "unreadable DICOM",
    "DICOMDIR index file",
    "modality ",
    "no pixel data",
    "truncated",
    "missing ",
    "malformed ",
    "SOP class ",
    "pixel data is ",
    "not a readable zip archive",
    "a zip inside a zip",
    "zip entry refused",
    "zip refused",
    "corrupt zip entry",
    "StudyInstanceUID belongs to patient",
    "SeriesInstanceUID already belongs to study",
)


@pytest.fixture(scope="module")
def files() -> list[tuple[str, Path]]:
    found = real_files()
    if len(found) < 100:
        pytest.skip("pydicom's test files are not installed")
    return found


def test_every_real_test_file_gets_a_clear_verdict(world, api, files, settings):
    uploads = [SimpleUploadedFile(name.replace("/", "__"), path.read_bytes()) for name, path in files]
    r = api(world.coordinator).post(
        f"/api/cohorts/{world.cohort_a.pk}/upload/", {"file": uploads}, format="multipart"
    )
    assert r.status_code == 200, r.content[:1000]
    body = r.json()
    got = {f["name"]: f for f in body["files"]}
    assert sorted(got) == sorted(u.name for u in uploads)  # exactly one verdict per file
    for name, f in got.items():
        assert f["verdict"] in {"accepted", "duplicate", "rejected"}, name
        if f["verdict"] == "rejected":
            assert f["reason"].startswith(REASON_PREFIXES), (name, f["reason"])
    accepted = [f for f in got.values() if f["verdict"] == "accepted"]
    # pydicom ships real CT slices with pixel data (CT_small, the 77654033 / 98892001 series, the
    # 693 J2K pair, ...): they must get in. (The TINY_ALPHA CT files carry no pixel data.)
    assert len(accepted) >= 15
    stored = set(
        Instance.objects.filter(series__study_id__in=body["study_ids"]).values_list(
            "sop_instance_uid", flat=True
        )
    )
    assert stored == {f["sop_instance_uid"] for f in accepted}
    for instance in Instance.objects.filter(sop_instance_uid__in=stored):
        assert (
            instance.absolute_path.is_file() and instance.absolute_path.stat().st_size == instance.file_size
        )
    # the non-CT images are the bulk of the rejections, and say so
    assert sum(f["reason"].startswith("modality ") for f in got.values()) >= 100
    assert got["pydicom__MR_truncated.dcm"]["reason"].startswith("truncated")
    assert got["pydicom__dicomdirtests__DICOMDIR"]["reason"].startswith("DICOMDIR index file")


def test_each_real_file_zipped_alone_gets_the_same_verdict_as_uploaded_bare(world, api, files):
    """Zip staging must not change what the DICOM check decides (a sample keeps this quick)."""
    from tests.webapp.conftest import zip_bytes

    sample = files[:: max(1, len(files) // 25)]
    client = api(world.coordinator)
    for name, path in sample:
        data = path.read_bytes()
        bare = client.post(
            f"/api/cohorts/{world.cohort_a.pk}/upload/",
            {"file": [SimpleUploadedFile("f", data)]},
            format="multipart",
        )
        assert bare.status_code == 200, name
        (b,) = bare.json()["files"]
        zipped = client.post(
            f"/api/cohorts/{world.cohort_a.pk}/upload/",
            {"file": [SimpleUploadedFile("z.zip", zip_bytes({"f": data}))]},
            format="multipart",
        )
        (z,) = zipped.json()["files"]
        # the second upload of an accepted file is, correctly, a duplicate
        expected = "duplicate" if b["verdict"] in {"accepted", "duplicate"} else "rejected"
        assert z["verdict"] == expected, (name, b, z)
        if expected == "rejected":
            assert z["reason"] == b["reason"], name
