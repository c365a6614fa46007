"""The start page: who you are and the cohorts you can see. Role dashboards come with worklists."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.cohorts.selectors import visible_cohorts


@login_required
def home(request: HttpRequest) -> HttpResponse:
    cohorts = visible_cohorts(request.user).annotate(study_count=Count("study_links")).order_by("name")[:200]
    return render(request, "home.html", {"cohorts": cohorts})
