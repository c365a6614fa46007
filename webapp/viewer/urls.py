from django.urls import path

from webapp.viewer import views

app_name = "viewer"

urlpatterns = [
    path("studies/<int:study_id>/", views.study_viewer, name="study"),
    path("studies/<int:study_id>/detection-status/", views.detection_status, name="detection-status"),
    path("items/<int:item_id>/", views.item_viewer, name="item"),
]
