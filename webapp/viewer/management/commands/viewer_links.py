"""Print the viewer's address for stored studies (the start page does not list studies yet)."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.urls import reverse

from webapp.cohorts.models import CohortStudy


class Command(BaseCommand):
    help = "Print /viewer/studies/<id>/ links, newest studies first (optionally of one cohort)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the site's address")
        parser.add_argument("--cohort", help="only studies of the cohort with this name")
        parser.add_argument("--limit", type=int, default=10)

    def handle(self, *args, base_url: str, cohort: str | None, limit: int, **options) -> None:
        links = CohortStudy.objects.select_related("study__patient", "cohort").order_by(
            "-study__created_at", "-id"
        )
        if cohort:
            links = links.filter(cohort__name=cohort)
        seen: set[int] = set()
        for link in links:
            if link.study_id in seen:
                continue
            seen.add(link.study_id)
            url = base_url.rstrip("/") + reverse("viewer:study", args=[link.study_id])
            self.stdout.write(f"{url}  {link.study.patient.patient_id}  ({link.cohort.name})")
            if len(seen) >= limit:
                break
        if not seen:
            self.stdout.write("No stored studies yet: upload some into a cohort first.")
