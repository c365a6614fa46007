"""STOW-RS routes, mounted at /dicomweb/ in front of the dicomweb app (see webapp.studies.stow)."""

from django.urls import path

import webapp.studies.url_converters  # noqa: F401 (registers <uid:...>)
from webapp.studies import stow

app_name = "stow"

urlpatterns = [
    path("studies", stow.stow_or_dicomweb, name="studies"),
    path("studies/<uid:study>", stow.stow_or_dicomweb, name="study"),
]
