from django.urls import path

from webapp.worklists import pages

app_name = "worklist_pages"

urlpatterns = [
    path("worklists/", pages.worklist_list, name="list"),
    path("worklists/new/", pages.worklist_new, name="new"),
    path("worklists/<int:worklist_id>/", pages.worklist_detail, name="detail"),
    path("worklists/<int:worklist_id>/assign/", pages.worklist_assign, name="assign"),
    path("review/", pages.review_page, name="review"),
]
