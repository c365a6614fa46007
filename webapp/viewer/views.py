"""The viewer page: a server-rendered shell (study header, viewport layout, loading state) that
loads the Cornerstone3D bundle; the bundle reads the study through /dicomweb/ and the REST API.
Opened with ?item=<worklist item id> it also hosts the read form for that item."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET

from webapp.detection.points import DEFAULT_POINT, viewer_points
from webapp.studies.models import Study
from webapp.viewer import bundle, services
from webapp.worklists.models import WorklistItem
from webapp.worklists.selectors import blinds_study


def _optional_url(name: str, *args: object) -> str | None:
    """An endpoint another app provides, or None while it does not exist yet."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _url_template(name: str, placeholder: str, *args: object) -> str | None:
    """A URL with one integer argument left as ``{placeholder}`` for the bundle to fill in."""
    url = _optional_url(name, *args, 987654321)
    return url.replace("987654321", "{" + placeholder + "}") if url else None


# (plane, label, and the patient directions at the top, bottom, left and right of the image):
# radiological convention, the patient's right on the image's left; anterior up in axial.
PANES = (
    ("axial", "Axial", "A", "P", "R", "L"),
    ("coronal", "Coronal", "S", "I", "R", "L"),
    ("sagittal", "Sagittal", "S", "I", "A", "P"),
)


def _item_id(request: HttpRequest) -> int | None:
    raw = request.GET.get("item", "")
    return int(raw) if raw.isdigit() else None


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
    item = _item_id(request)
    # A reader of a blinded worklist sees the AI on this study only after submitting their read.
    blinded = blinds_study(request.user, study.pk)
    if blinded:
        map_url = None
    config = {
        "studyId": study.pk,
        "studyInstanceUID": study.study_instance_uid,
        "dicomwebRoot": reverse("dicomweb:studies").removesuffix("/studies"),
        "loginUrl": f"{reverse('accounts:login')}?{urlencode({'next': request.get_full_path()})}",
        # Detection results and maps, and why there is none when there is none.
        "resultUrl": None if blinded else _optional_url("study-result", study.pk),
        "blinded": blinded,
        "mapUrlTemplate": map_url.replace("KIND", "{kind}") if map_url else None,
        "detectionStatusUrl": reverse("viewer:detection-status", args=[study.pk]),
        "calibrationUrl": _optional_url("calibration-latest"),
        # The named operating points (webapp/detection/points.py), more sensitive first.
        "operatingPoints": viewer_points(),
        "defaultPoint": DEFAULT_POINT,
        # The operating point chosen in the viewer is remembered per user (in the browser).
        "user": request.user.get_username(),
        # The read form: the worklist item being read, its API and the viewer of its neighbours.
        "item": item,
        "itemUrlTemplate": _url_template("worklist-item-detail", "id"),
        "itemStartUrlTemplate": _url_template("worklist-item-start", "id"),
        "itemReadUrlTemplate": _url_template("worklist-item-read", "id"),
        "itemViewerUrlTemplate": _url_template("viewer:item", "id"),
        "csrfToken": get_token(request),
        # The result as DICOM objects (SR, SEG, Parametric Maps), and sending them to a node.
        "dicomObjectsUrl": None if blinded else _optional_url("study-dicom", study.pk),
        "dicomSendUrl": _optional_url("study-dicom-send", study.pk),
        "dicomNodesUrl": _optional_url("dicom-nodes") if request.user.has_perm("pacs.send_results") else None,
    }
    context = {
        "study": study,
        "assets": assets,
        "viewer_config": config,
        "panes": PANES,
        "item": item,
        "points": config["operatingPoints"],
    }
    return render(request, "viewer/study.html", context)


@login_required
def item_viewer(request: HttpRequest, item_id: int) -> HttpResponse:
    """A worklist item's study in the viewer, with its read form (what next / previous follow)."""
    try:
        study_id = services.item_study_id(request.user, item_id)
    except WorklistItem.DoesNotExist:
        raise Http404("no such worklist item among yours") from None
    return redirect(f"{reverse('viewer:study', args=[study_id])}?item={item_id}")


@login_required
@require_GET
def detection_status(request: HttpRequest, study_id: int) -> JsonResponse:
    """Where the study's detection stands (JSON), for the viewer to say why it has no result:
    {state: none | queued | running | done | failed | cancelled, job: {...} | null}."""
    if not request.user.has_perm("detection.view_detectionresult"):
        return JsonResponse({"detail": "your role does not allow you to see detection results"}, status=403)
    try:
        return JsonResponse(services.detection_status(request.user, study_id))
    except Study.DoesNotExist:
        return JsonResponse({"detail": "no such study among yours"}, status=404)
