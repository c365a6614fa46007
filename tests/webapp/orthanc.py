"""A real PACS for tests: Debian's Orthanc (with its DICOMweb plugin) on loopback ports, in a
folder of its own, driven through its REST API (scripts/pacs-deps.sh installs it)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

ORTHANC = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Orthanc:
    """One Orthanc process. ``modalities``: name -> (AE title, host, port) it may send to;
    ``dicomweb_servers``: name -> URL (or Orthanc's dict form) of DICOMweb servers it may use."""

    def __init__(
        self,
        root: Path,
        *,
        aet: str = "ORTHANC",
        modalities: dict[str, tuple[str, str, int]] | None = None,
        dicomweb_servers: dict[str, Any] | None = None,
    ) -> None:
        if not ORTHANC.exists() or not DICOMWEB_PLUGIN.exists():
            pytest.fail(
                "Orthanc is not installed: run scripts/pacs-deps.sh (apt-get install orthanc orthanc-dicomweb)"
            )
        self.root = root
        self.aet = aet
        self.http_port, self.dicom_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        storage = root / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = {
            "Name": "test-pacs",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomCheckCalledAet": True,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "Servers": dicomweb_servers or {}},
            "DicomModalities": {k: list(v) for k, v in (modalities or {}).items()},
            "DicomScpTimeout": 10,
            "StableAge": 1,
        }
        (root / "orthanc.json").write_text(json.dumps(config, indent=1))
        self._log = (root / "orthanc.log").open("ab")
        self.proc = subprocess.Popen(
            [str(ORTHANC), str(root / "orthanc.json")], cwd=root, stdout=self._log, stderr=subprocess.STDOUT
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited:\n{self.log()[-3000:]}")
            try:
                if requests.get(f"{self.url}/system", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"Orthanc not up after {timeout} s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return (self.root / "orthanc.log").read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.root / "storage", ignore_errors=True)

    # --- the REST API --------------------------------------------------------------------------
    def get(self, path: str, **kwargs: Any) -> Any:
        r = requests.get(f"{self.url}{path}", timeout=30, **kwargs)
        r.raise_for_status()
        return r.json()

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body) if body is not None else None
        return requests.post(f"{self.url}{path}", data=data, timeout=120, **kwargs)

    def upload(self, files: list[Path]) -> str:
        """Store files in Orthanc; the Orthanc ID of their (last) study."""
        study = ""
        for f in files:
            r = self.post("/instances", f.read_bytes())
            r.raise_for_status()
            study = r.json()["ParentStudy"]
        return study

    def clear(self) -> None:
        for study in self.get("/studies"):
            requests.delete(f"{self.url}/studies/{study}", timeout=30).raise_for_status()

    def study_uids(self) -> list[str]:
        return sorted(
            self.get(f"/studies/{s}")["MainDicomTags"]["StudyInstanceUID"] for s in self.get("/studies")
        )

    def instances_of(self, study_uid: str) -> list[dict]:
        """Every instance Orthanc holds of the study, with its tags (SOPClassUID, Modality...)."""
        found = self.post("/tools/find", {"Level": "Study", "Query": {"StudyInstanceUID": study_uid}}).json()
        out = []
        for study in found:
            for inst in self.get(f"/studies/{study}/instances"):
                out.append(self.get(f"/instances/{inst['ID']}/simplified-tags") | {"ID": inst["ID"]})
        return out
