"""``python manage.py dicom_receiver``: the C-STORE receiver, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from webapp.pacs.receiver import HANDLERS, build_ae, queue_while_running


class Command(BaseCommand):
    help = "Receive CT studies over DICOM (C-STORE) from the nodes mapped to cohorts."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=settings.DICOM_BIND, help="address to listen on")
        parser.add_argument("--port", type=int, default=settings.DICOM_PORT)
        parser.add_argument("--ae-title", default=settings.DICOM_AE_TITLE, help="our AE title")

    def handle(self, *args: Any, bind: str, port: int, ae_title: str, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        ae = build_ae(ae_title)
        server = ae.start_server((bind, port), block=False, evt_handlers=HANDLERS)
        queuer = threading.Thread(target=queue_while_running, args=(stop,), name="quiet-studies", daemon=True)
        queuer.start()
        self.stdout.write(
            f"dicom_receiver: {ae_title} listening on {bind}:{port}; "
            f"studies queued after {settings.DICOM_QUIET_SECONDS:g} s of quiet",
            ending="\n",
        )
        self.stdout.flush()
        stop.wait()
        server.shutdown()  # stops accepting, then waits for open associations
        queuer.join(timeout=5)
        self.stdout.write("dicom_receiver: stopped")
