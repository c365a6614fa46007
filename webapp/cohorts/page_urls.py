from django.urls import path

from webapp.cohorts import pages

app_name = "cohort_pages"

urlpatterns = [
    path("", pages.cohort_list, name="list"),
    path("<int:cohort_id>/", pages.cohort_detail, name="detail"),
    path("<int:cohort_id>/upload/", pages.cohort_upload, name="upload"),
    path("<int:cohort_id>/labels/", pages.cohort_labels, name="labels"),
    path("<int:cohort_id>/members/", pages.cohort_members, name="members"),
]
