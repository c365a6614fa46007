from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    name = "webapp.worklists"
    label = "worklists"
    verbose_name = "Worklists and reads"
