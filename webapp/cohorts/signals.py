"""Signals the cohorts app sends, so other apps can react without cohorts knowing them."""

from django.dispatch import Signal

# Sent inside the upload's transaction once studies are linked to a cohort.
# sender: Cohort; kwargs: cohort, study_ids (list[int]), acting_user
studies_added = Signal()
