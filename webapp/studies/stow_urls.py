"""STOW-RS routes, mounted at /dicomweb/ in front of the dicomweb app (see webapp.studies.stow)."""

from django.urls import path, register_converter

from webapp.studies import stow


class UidConverter:
    regex = r"[0-9]+(?:\.[0-9]+)*"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(UidConverter, "stow_uid")

app_name = "stow"

urlpatterns = [
    path("studies", stow.stow_or_dicomweb, name="studies"),
    path("studies/<stow_uid:study>", stow.stow_or_dicomweb, name="study"),
]
