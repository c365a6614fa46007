from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running the site: health and readiness, worker heartbeats, request and job ids in the logs,
    error reports, backups."""

    name = "webapp.operations"
    label = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        from webapp.operations import heartbeat, job_logs

        job_logs.connect()
        heartbeat.connect()
