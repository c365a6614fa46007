from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    name = "webapp.worklists"
    label = "worklists"
    verbose_name = "Worklists and reads"

    def ready(self) -> None:
        from webapp.cohorts import parts
        from webapp.worklists.cohort_part import cohort_part

        parts.register(cohort_part)  # the cohort's worklists on its page
