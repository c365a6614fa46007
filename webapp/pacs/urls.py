"""The API's routes of the pacs app (mounted under /api/ by webapp/api/urls.py)."""

from django.urls import path

from webapp.pacs import views

urlpatterns = [
    path("studies/<int:pk>/dicom/", views.StudyDicomView.as_view(), name="study-dicom"),
    path("studies/<int:pk>/dicom/send/", views.StudyDicomSendView.as_view(), name="study-dicom-send"),
    path(
        "studies/<int:pk>/dicom/<str:kind>/", views.StudyDicomObjectView.as_view(), name="study-dicom-object"
    ),
    path("dicom-nodes/", views.DicomNodesView.as_view(), name="dicom-nodes"),
    path("dicom-nodes/<slug:name>/retrieve/", views.NodeRetrieveView.as_view(), name="dicom-node-retrieve"),
    path("retrievals/<int:pk>/", views.RetrievalView.as_view(), name="retrieval"),
]
