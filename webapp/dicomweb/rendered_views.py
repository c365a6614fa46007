"""``/rendered`` and ``/thumbnail`` of instances, frames, series and studies (rendered.py says how
a frame becomes a picture). Like frames, not audited one by one: pictures carry no identifiers,
and a viewer's study list asks for many."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import exceptions
from rest_framework.request import Request

from webapp.dicomweb import files, http, rendered, selectors
from webapp.dicomweb.views import DicomWebView, NotAcceptable
from webapp.studies.models import Instance

PICTURES = ("image/jpeg", "image/png")


def _media_type(request: Request) -> str:
    """JPEG unless the client asks for PNG (or accepts only PNG)."""
    ranges = http.accepted(request)
    for wanted in ranges:
        for media_type in PICTURES:
            if wanted.type != "*/*" and wanted.matches(media_type):
                return media_type
    if any(r.type in {"*/*", "image/*"} for r in ranges):
        return "image/jpeg"
    raise NotAcceptable("Rendered resources are served as image/jpeg or image/png.")


def _picture(request: Request, instance: Instance, frame: int, thumbnail: bool) -> HttpResponse:
    media_type = _media_type(request)
    params = request.query_params
    window = rendered.parse_window(params.get("window"))
    viewport = rendered.parse_viewport(params.get("viewport"), rendered.THUMBNAIL_SIZE if thumbnail else None)
    quality = params.get("quality", "90")
    if not quality.isdigit():
        raise exceptions.ParseError("quality must be an integer from 1 to 100")
    path = instance.absolute_path
    if not path.is_file():
        raise files.UnreadableInstance(f"{instance.file_path} is missing from storage")
    try:
        body = rendered.render_frame(
            str(path), frame, window=window, viewport=viewport, media_type=media_type, quality=int(quality)
        )
    except IndexError as e:
        raise exceptions.NotFound(str(e)) from None
    except (ValueError, RuntimeError, AttributeError) as e:  # pixel data pydicom cannot decode
        raise files.UnreadableInstance(f"{instance.file_path}: {e}") from e
    response = HttpResponse(body, content_type=media_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["Vary"] = "Accept, Authorization, Cookie"
    return response


def _frame_number(frames: str | None) -> int:
    if frames is None:
        return 1
    if not frames.isdigit():
        raise exceptions.ParseError("rendered frames are asked for one at a time: /frames/{number}/rendered")
    return int(frames)


class RenderedView(DicomWebView):
    """An instance's first frame, or one frame, rendered."""

    thumbnail = False

    def get(
        self, request: Request, study: str, series: str, sop: str, frames: str | None = None
    ) -> HttpResponse:
        instance = selectors.visible_instance(request.user, study, series, sop)
        return _picture(request, instance, _frame_number(frames), self.thumbnail)


class ThumbnailView(RenderedView):
    thumbnail = True


class RepresentativeThumbnailView(DicomWebView):
    """A series' or study's thumbnail: the middle instance of the series (of a study, its
    series with the most instances)."""

    def get(self, request: Request, study: str, series: str | None = None) -> HttpResponse:
        found = selectors.visible_study(request.user, study)
        if series is None:
            largest = selectors.series_in(found).order_by("-instance_count", "series_number", "id").first()
            if largest is None:
                raise exceptions.NotFound("this study has no images")
            series = largest.series_instance_uid
        else:
            selectors.series_by_uid(found, series)
        instances = list(selectors.instances_in(found, series))
        if not instances:
            raise exceptions.NotFound("this series has no images")
        return _picture(request, instances[len(instances) // 2], 1, thumbnail=True)
