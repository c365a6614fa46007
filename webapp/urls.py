from django.contrib import admin
from django.urls import include, path

from webapp import views

admin.site.site_header = "FusionScreen administration"
admin.site.site_title = "FusionScreen"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/", include("webapp.accounts.urls")),
    path("api/", include("webapp.api.urls")),
    path("dicomweb/", include("webapp.dicomweb.urls")),
    path("viewer/", include("webapp.viewer.urls")),
    path("admin/", admin.site.urls),
]
