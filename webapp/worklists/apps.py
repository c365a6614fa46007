from django.apps import AppConfig


class WorklistsConfig(AppConfig):
    name = "webapp.worklists"
    label = "worklists"
    verbose_name = "Worklists and reads"

    def ready(self) -> None:
        from webapp.cohorts import parts
        from webapp.detection.visibility import register_hidden_studies
        from webapp.worklists.cohort_part import cohort_part
        from webapp.worklists.selectors import blinded_study_ids

        parts.register(cohort_part)  # the cohort's worklists on its page
        # A blinded reader sees no result of a study until their read of it is in, by any door.
        register_hidden_studies(
            blinded_study_ids,
            "blinded read: the AI's result on this study is shown once you have submitted your read of it",
        )
