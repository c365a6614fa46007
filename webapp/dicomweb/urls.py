"""DICOMweb routes (PS3.18), mounted at /dicomweb/: no trailing slashes, UIDs in the path.
Both directions: QIDO-RS and WADO-RS (views.py) and STOW-RS (stow.py)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import path

import webapp.studies.url_converters  # noqa: F401 (registers <uid:...>)
from webapp.dicomweb import stow, views

app_name = "dicomweb"

_STUDY = "studies/<uid:study>"
_SERIES = f"{_STUDY}/series/<uid:series>"
_INSTANCE = f"{_SERIES}/instances/<uid:sop>"


def by_method(**handlers: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """One path, a view per HTTP method (QIDO-RS searches and STOW-RS stores at /studies)."""

    def dispatch(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        handler = handlers.get("GET" if request.method == "HEAD" else request.method)
        if handler is None:
            return HttpResponseNotAllowed(sorted(handlers))
        return handler(request, *args, **kwargs)

    dispatch.csrf_exempt = True  # type: ignore[attr-defined]  # each view checks it (DRF)
    return dispatch


_store = stow.StowView.as_view()

urlpatterns = [
    # QIDO-RS, and STOW-RS of any study
    path("studies", by_method(GET=views.StudySearchView.as_view(), POST=_store), name="studies"),
    # STOW-RS of one study
    path(_STUDY, by_method(POST=_store), name="study"),
    path(f"{_STUDY}/series", views.SeriesSearchView.as_view(), name="study-series"),
    path(f"{_STUDY}/instances", views.InstanceSearchView.as_view(), name="study-instances"),
    path(f"{_SERIES}/instances", views.InstanceSearchView.as_view(), name="series-instances"),
    # WADO-RS
    path(f"{_STUDY}/metadata", views.MetadataView.as_view(), name="study-metadata"),
    path(f"{_SERIES}/metadata", views.MetadataView.as_view(), name="series-metadata"),
    path(f"{_INSTANCE}/metadata", views.MetadataView.as_view(), name="instance-metadata"),
    path(_INSTANCE, views.InstanceView.as_view(), name="instance"),
    path(f"{_INSTANCE}/frames/<str:frames>", views.FramesView.as_view(), name="frames"),
]
