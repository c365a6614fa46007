"""Files from the media folder handed to nginx to send (X-Accel-Redirect, sendfile) when the site
runs behind it, else streamed by Django.

Access is decided by the view before this is called; nginx's internal location (deploy/nginx/)
cannot be reached from outside and re-sends the headers the view set. Off unless
SENDFILE_URL_PREFIX names that location.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.http.response import HttpResponseBase


def file_response(path: Path, content_type: str) -> HttpResponseBase:
    prefix = settings.SENDFILE_URL_PREFIX
    if prefix:
        try:
            relative = path.resolve().relative_to(Path(settings.MEDIA_ROOT).resolve())
        except ValueError:
            relative = None
        if relative is not None:
            response = HttpResponse(content_type=content_type)
            response["X-Accel-Redirect"] = prefix.rstrip("/") + "/" + quote(relative.as_posix())
            return response
    return FileResponse(path.open("rb"), content_type=content_type)
