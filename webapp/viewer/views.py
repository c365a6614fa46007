"""The viewer page: a server-rendered shell (study header, viewport layout, loading state) that
loads the Cornerstone3D bundle; the bundle reads the study through /dicomweb/."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse

from webapp.studies.models import Study
from webapp.viewer import bundle, services


def _optional_url(name: str, *args: object) -> str | None:
    """An endpoint another app provides, or None while it does not exist yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


# (plane, label, and the patient directions at the top, bottom, left and right of the image):
# radiological convention, the patient's right on the image's left; anterior up in axial.
PANES = (
    ("axial", "Axial", "A", "P", "R", "L"),
    ("coronal", "Coronal", "S", "I", "R", "L"),
    ("sagittal", "Sagittal", "S", "I", "A", "P"),
)


@login_required
def study_viewer(request: HttpRequest, study_id: int) -> HttpResponse:
    try:
        study = services.open_study(request.user, study_id)
    except Study.DoesNotExist:
        return render(request, "viewer/unavailable.html", {"study_id": study_id}, status=404)
    try:
        assets = bundle.viewer_assets()
    except bundle.BundleMissing as e:
        context = {"study_id": study_id, "heading": "Viewer not built", "bundle_error": str(e)}
        return render(request, "viewer/unavailable.html", context, status=503)
    map_url = _optional_url("study-map", study.pk, "KIND")
    config = {
        "studyId": study.pk,
        "studyInstanceUID": study.study_instance_uid,
        "dicomwebRoot": reverse("dicomweb:studies").removesuffix("/studies"),
        "loginUrl": f"{reverse('accounts:login')}?next={request.path}",
        # Detection results and maps (next slice: the anomaly overlay), when that app serves them.
        "resultUrl": _optional_url("study-result", study.pk),
        "mapUrlTemplate": map_url.replace("KIND", "{kind}") if map_url else None,
        "calibrationUrl": _optional_url("calibration-latest"),
        # The operating point chosen in the viewer is remembered per user (in the browser).
        "user": request.user.get_username(),
    }
    context = {"study": study, "assets": assets, "viewer_config": config, "panes": PANES}
    return render(request, "viewer/study.html", context)
