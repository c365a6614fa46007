"""WADO-RS retrieval of a whole study or series (PS3.18 10.4): every instance's stored file as
one part of ``multipart/related; type="application/dicom"``, streamed file by file. Audited
once per request, like a single instance's download: pixels and identifiers leave the site."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpResponse, StreamingHttpResponse
from rest_framework.request import Request

from webapp.accounts.services import audit
from webapp.dicomweb import files, http, selectors
from webapp.dicomweb.views import DicomWebView, NotAcceptable, _anything
from webapp.studies.models import Instance

_CHUNK = 1 << 20


def retrieve_instances(
    acting_user: AbstractBaseUser, study_uid: str, series_uid: str | None
) -> list[Instance]:
    study = selectors.visible_study(acting_user, study_uid)
    if series_uid is not None:
        selectors.series_by_uid(study, series_uid)
    instances = list(selectors.instances_in(study, series_uid))
    with transaction.atomic():
        audit(
            acting_user,
            "study.dicomweb_retrieved",
            study,
            details={
                "study_instance_uid": study.study_instance_uid,
                "patient_id": study.patient.patient_id,
                "series_instance_uid": series_uid or "",
                "instances": len(instances),
            },
        )
    return instances


def _parts(paths: list[Path], boundary: str) -> Iterator[bytes]:
    head = f"--{boundary}\r\nContent-Type: {http.DICOM}\r\n\r\n".encode("ascii")
    for n, path in enumerate(paths):
        yield (b"\r\n" if n else b"") + head
        with path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    yield f"\r\n--{boundary}--\r\n".encode("ascii")


class BulkRetrieveView(DicomWebView):
    """``GET /studies/{study}`` and ``GET /studies/{study}/series/{series}``."""

    def get(self, request: Request, study: str, series: str | None = None) -> HttpResponse:
        if not http.multipart_part_accepted(request, http.DICOM) and not _anything(request):
            raise NotAcceptable(
                'Studies and series are served as multipart/related; type="application/dicom".'
            )
        instances = retrieve_instances(request.user, study, series)
        paths = [i.absolute_path for i in instances]
        missing = [i.file_path for i, p in zip(instances, paths) if not p.is_file()]
        if missing:
            raise files.UnreadableInstance(f"{len(missing)} stored files are missing, e.g. {missing[0]}")
        boundary = f"fusionscreen-{uuid.uuid4().hex}"
        head = len(f"--{boundary}\r\nContent-Type: {http.DICOM}\r\n\r\n")
        length = sum(p.stat().st_size for p in paths) + head * len(paths) + 2 * max(len(paths) - 1, 0)
        length += len(f"\r\n--{boundary}--\r\n")
        response = StreamingHttpResponse(
            _parts(paths, boundary), content_type=http.multipart_content_type(http.DICOM, boundary)
        )
        response["Content-Length"] = str(length)
        response["Cache-Control"] = "private, no-store"
        return response
