"""Print the viewer's address for stored studies (the start page does not list studies yet)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Exists, OuterRef
from django.urls import reverse

from webapp.cohorts.models import CohortStudy
from webapp.detection.models import DetectionResult


class Command(BaseCommand):
    help = (
        "Print /viewer/studies/<id>/ links, studies with a detection result first, then the newest "
        "(optionally of one cohort)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the site's address")
        parser.add_argument("--cohort", help="only studies of the cohort with this name")
        parser.add_argument("--limit", type=int, default=10)

    def handle(self, *args, base_url: str, cohort: str | None, limit: int, **options) -> None:
        # Studies with a detection result first: those show the overlay and findings.
        with_result = Exists(DetectionResult.objects.filter(study=OuterRef("study_id")))
        links = (
            CohortStudy.objects.select_related("study__patient", "cohort")
            .annotate(has_result=with_result)
            .order_by("-has_result", "-study__created_at", "-id")
        )
        if cohort:
            links = links.filter(cohort__name=cohort)
        seen: set[int] = set()
        for link in links:
            if link.study_id in seen:
                continue
            seen.add(link.study_id)
            url = base_url.rstrip("/") + reverse("viewer:study", args=[link.study_id])
            result = "" if link.has_result else ", no detection result yet"
            self.stdout.write(f"{url}  {link.study.patient.patient_id}  ({link.cohort.name}{result})")
            if len(seen) >= limit:
                break
        if not seen:
            self.stdout.write("No stored studies yet: upload some into a cohort first.")
