from django.contrib import admin
from django.urls import include, path

from webapp import views

admin.site.site_header = "FusionScreen administration"
admin.site.site_title = "FusionScreen"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("webapp.accounts.urls")),
    path("api/", include("webapp.api.urls")),
    # STOW-RS (POST) in front of the dicomweb app; other methods on its paths are handed on to it.
    path("dicomweb/", include("webapp.studies.stow_urls")),
    path("dicomweb/", include("webapp.dicomweb.urls")),
    path("viewer/", include("webapp.viewer.urls")),
    path("admin/", admin.site.urls),
]
