"""Bounded inflation at ingest (issue 12, finding 9): a deflated DICOM file is measured before it
is inflated, and the zip expansion budget holds for a whole request, not per archive."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian, generate_uid

from tests.webapp.conftest import zip_bytes
from tests.webapp.test_ingest import staging_is_empty, upload, verdicts

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]


def _deflated(path: Path, rows: int | None = None, columns: int | None = None) -> bytes:
    """A phantom slice re-issued (new UIDs) in the deflated transfer syntax, optionally resized
    with all-zero pixels."""
    ds = pydicom.dcmread(path)
    if rows:
        ds.Rows, ds.Columns = rows, columns
        ds.PixelData = np.zeros((rows, columns), np.uint16).tobytes()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_a_deflated_ct_slice_is_accepted(world, api, phantoms):
    data = _deflated(phantoms.files(0)[0])
    got = verdicts(upload(api(world.coordinator), world.cohort_a, [("slice.dcm", data)]))
    assert got["slice.dcm"][0] == "accepted", got


def test_a_deflate_bomb_is_refused_before_it_is_inflated(world, api, phantoms, settings):
    bomb = _deflated(phantoms.files(0)[0], rows=5120, columns=4096)  # 40 MiB of zeros in ~40 KiB
    assert len(bomb) < 200 * 1024
    got = verdicts(upload(api(world.coordinator), world.cohort_a, [("bomb.dcm", bomb)]))
    verdict, reason = got["bomb.dcm"]
    assert verdict == "rejected" and "decompression bomb" in reason, reason
    assert staging_is_empty(Path(settings.MEDIA_ROOT))


def test_the_zip_expansion_budget_is_per_request(world, api, settings):
    settings.INGEST_ZIP_MAX_UNCOMPRESSED_BYTES = 10 * 1024**2
    # three archives of 4 MiB each (incompressible): each under the limit, together over it
    archives = [(f"part{i}.zip", zip_bytes({f"s{i}.dcm": os.urandom(4 * 1024**2)})) for i in range(3)]
    got = verdicts(upload(api(world.coordinator), world.cohort_a, archives))
    assert got["part0.zip/s0.dcm"][0] == "rejected"  # staged, then judged: not DICOM
    assert got["part1.zip/s1.dcm"][0] == "rejected"
    assert "this upload would expand past the 10.0 MiB limit per upload" in got["part2.zip"][1]
    assert staging_is_empty(Path(settings.MEDIA_ROOT))
