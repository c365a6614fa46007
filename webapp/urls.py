from django.contrib import admin
from django.urls import include, path

from webapp import views
from webapp.accounts.pages import audit_browser

admin.site.site_header = "FusionScreen administration"
admin.site.site_title = "FusionScreen"

urlpatterns = [
    path("", include("webapp.operations.urls")),  # /healthz and /readyz for probes
    path("", views.home, name="home"),
    path("accounts/", include("webapp.accounts.urls")),
    path("api/", include("webapp.api.urls")),
    path("dicomweb/", include("webapp.dicomweb.urls")),
    path("viewer/", include("webapp.viewer.urls")),
    # Server-rendered pages (the API serves the same data to scripts and the viewer).
    path("cohorts/", include("webapp.cohorts.page_urls")),
    path("", include("webapp.detection.page_urls")),
    path("", include("webapp.worklists.page_urls")),
    path("audit/", audit_browser, name="audit"),
    path("admin/", admin.site.urls),
]
