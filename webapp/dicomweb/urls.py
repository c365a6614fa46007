"""DICOMweb routes (PS3.18), mounted at /dicomweb/: no trailing slashes, UIDs in the path."""

from django.urls import path

import webapp.studies.url_converters  # noqa: F401 (registers <uid:...>)
from webapp.dicomweb import views

app_name = "dicomweb"

_STUDY = "studies/<uid:study>"
_SERIES = f"{_STUDY}/series/<uid:series>"
_INSTANCE = f"{_SERIES}/instances/<uid:sop>"

urlpatterns = [
    # QIDO-RS
    path("studies", views.StudySearchView.as_view(), name="studies"),
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
