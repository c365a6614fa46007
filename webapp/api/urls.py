from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from webapp.accounts.views import ObtainTokenView
from webapp.cohorts.views import CohortViewSet
from webapp.studies.views import StudyViewSet

router = DefaultRouter()
router.register("cohorts", CohortViewSet, basename="cohort")
router.register("studies", StudyViewSet, basename="study")

# The schema and its docs pages describe the API, not data: readable without signing in.
_public = {"permission_classes": [AllowAny], "authentication_classes": []}

urlpatterns = [
    path("auth/token/", ObtainTokenView.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(**_public), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema", **_public), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema", **_public), name="api-redoc"),
    path("", include(router.urls)),
]
