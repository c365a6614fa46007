"""FusionScreen web platform: the Django project and its apps, in layers (docs/architecture.md):
core, accounts, studies, cohorts, detection, worklists, dicomweb, viewer, api, site."""

# Loaded with Django so that @shared_task binds to this app and tasks enqueue on its broker.
from webapp.celery import app as celery_app

__all__ = ["celery_app"]
