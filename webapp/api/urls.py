from csp.decorators import csp_update
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from webapp.accounts.views import ObtainTokenView, RevokeAllTokensView, RevokeTokenView
from webapp.cohorts.study_views import StudyViewSet
from webapp.cohorts.views import CohortViewSet
from webapp.detection import result_views as detection_results
from webapp.detection import views as detection
from webapp.worklists import views as worklists

router = DefaultRouter()
router.register("cohorts", CohortViewSet, basename="cohort")
router.register("studies", StudyViewSet, basename="study")
router.register("model-versions", detection.ModelVersionViewSet, basename="model-version")
router.register("training-jobs", detection.TrainingJobViewSet, basename="training-job")
router.register("jobs", detection.DetectionJobViewSet, basename="detection-job")
router.register("results", detection_results.ResultViewSet, basename="detection-result")
router.register("calibrations", detection.CalibrationViewSet, basename="calibration")
router.register("worklists", worklists.WorklistViewSet, basename="worklist")
router.register("worklist-items", worklists.WorklistItemViewSet, basename="worklist-item")

# The schema and its docs pages describe the API, not data: readable without signing in.
_public = {"permission_classes": [AllowAny], "authentication_classes": []}
# Swagger UI inserts <style> elements as it renders; the page shows no data, so the site-wide
# policy is relaxed for styles here and nowhere else. (Redoc is not offered: its bundle always
# loads its logo from a CDN.) Their scripts stay external:
# Swagger UI's start-up script is served by the split view from its own URL.
_docs_styles = csp_update({"style-src": ["'unsafe-inline'"]})

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("auth/token/revoke/", RevokeTokenView.as_view(), name="api-token-revoke"),
    path("auth/token/revoke-all/", RevokeAllTokensView.as_view(), name="api-token-revoke-all"),
    path("schema/", SpectacularAPIView.as_view(**_public), name="api-schema"),
    path(
        "docs/",
        _docs_styles(SpectacularSwaggerSplitView.as_view(url_name="api-schema", **_public)),
        name="api-docs",
    ),
    path("cohorts/<int:pk>/detect/", detection.CohortDetectView.as_view(), name="cohort-detect"),
    path("cohorts/<int:pk>/calibrate/", detection.CohortCalibrateView.as_view(), name="cohort-calibrate"),
    path("studies/<int:pk>/detect/", detection.StudyDetectView.as_view(), name="study-detect"),
    path("studies/<int:pk>/result/", detection_results.StudyResultView.as_view(), name="study-result"),
    path("studies/<int:pk>/maps/<str:kind>/", detection_results.StudyMapView.as_view(), name="study-map"),
    path("review/agreement/", worklists.AgreementView.as_view(), name="review-agreement"),
    path("", include("webapp.pacs.urls")),
    path("", include(router.urls)),
]
