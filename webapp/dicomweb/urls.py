"""DICOMweb routes (PS3.18), mounted at /dicomweb/: no trailing slashes, UIDs in the path.
Both directions: QIDO-RS and WADO-RS (views.py; whole studies and series in bulk.py; pictures
in rendered_views.py) and STOW-RS (stow.py)."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import path

import webapp.studies.url_converters  # noqa: F401 (registers <uid:...>)
from webapp.dicomweb import bulk, rendered_views, stow, views

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
_bulk = bulk.BulkRetrieveView.as_view()

urlpatterns = [
    # QIDO-RS, and STOW-RS of any study
    path("studies", by_method(GET=views.StudySearchView.as_view(), POST=_store), name="studies"),
    path("series", views.SeriesSearchView.as_view(), name="series"),
    path("instances", views.InstanceSearchView.as_view(), name="instances"),
    # WADO-RS of a whole study, and STOW-RS into it
    path(_STUDY, by_method(GET=_bulk, POST=_store), name="study"),
    path(_SERIES, _bulk, name="series-retrieve"),
    path(f"{_STUDY}/series", views.SeriesSearchView.as_view(), name="study-series"),
    path(f"{_STUDY}/instances", views.InstanceSearchView.as_view(), name="study-instances"),
    path(f"{_SERIES}/instances", views.InstanceSearchView.as_view(), name="series-instances"),
    # WADO-RS
    path(f"{_STUDY}/metadata", views.MetadataView.as_view(), name="study-metadata"),
    path(f"{_SERIES}/metadata", views.MetadataView.as_view(), name="series-metadata"),
    path(f"{_INSTANCE}/metadata", views.MetadataView.as_view(), name="instance-metadata"),
    path(_INSTANCE, views.InstanceView.as_view(), name="instance"),
    path(f"{_INSTANCE}/frames/<str:frames>", views.FramesView.as_view(), name="frames"),
    # rendered pictures and thumbnails
    path(f"{_INSTANCE}/rendered", rendered_views.RenderedView.as_view(), name="instance-rendered"),
    path(
        f"{_INSTANCE}/frames/<str:frames>/rendered",
        rendered_views.RenderedView.as_view(),
        name="frames-rendered",
    ),
    path(f"{_INSTANCE}/thumbnail", rendered_views.ThumbnailView.as_view(), name="instance-thumbnail"),
    path(
        f"{_INSTANCE}/frames/<str:frames>/thumbnail",
        rendered_views.ThumbnailView.as_view(),
        name="frames-thumbnail",
    ),
    path(
        f"{_SERIES}/thumbnail", rendered_views.RepresentativeThumbnailView.as_view(), name="series-thumbnail"
    ),
    path(f"{_STUDY}/thumbnail", rendered_views.RepresentativeThumbnailView.as_view(), name="study-thumbnail"),
]
