"""A real ``manage.py dicom_receiver`` process for tests, and a pynetdicom SCU to talk to it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.webapp.orthanc import free_port
from tests.webapp.workers import REPO


class Receiver:
    def __init__(self, env: dict[str, str], log: Path, ae_title: str = "FUSIONSCREEN") -> None:
        self.port = free_port()
        self.ae_title = ae_title
        self.log = log
        self._out = log.open("a")
        args = [
            sys.executable,
            "manage.py",
            "dicom_receiver",
            "--port",
            str(self.port),
            "--ae-title",
            ae_title,
        ]
        self.proc = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_ready(self, timeout: float = 60) -> Receiver:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "listening on" in self.output():
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"dicom_receiver exited:\n{self.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"dicom_receiver not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return self.output()
