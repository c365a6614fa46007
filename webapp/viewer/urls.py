from django.urls import path

from webapp.viewer import views

app_name = "viewer"

urlpatterns = [
    path("studies/<int:study_id>/", views.study_viewer, name="study"),
]
