"""A real ``manage.py dicom_receiver`` process for tests."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.webapp.orthanc import free_port
from tests.webapp.workers import Process


class Receiver(Process):
    ready_marker = "listening on"

    def __init__(self, env: dict[str, str], log: Path, ae_title: str = "FUSIONSCREEN") -> None:
        self.port = free_port()
        self.ae_title = ae_title
        args = [
            sys.executable,
            "manage.py",
            "dicom_receiver",
            "--port",
            str(self.port),
            "--ae-title",
            ae_title,
        ]
        super().__init__("dicom_receiver", args, env, log)
