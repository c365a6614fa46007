"""The start page: who you are and the cohorts you can see. Role dashboards come with worklists."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.cohorts.selectors import visible_cohorts, with_counts


@login_required
def home(request: HttpRequest) -> HttpResponse:
    cohorts = with_counts(visible_cohorts(request.user)).order_by("name")[:200]
    return render(request, "home.html", {"cohorts": cohorts})
