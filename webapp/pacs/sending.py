"""Sending stored DICOM files to a node: C-STORE over an association of ours (as
``DICOM_AE_TITLE``), or STOW-RS to its DICOMweb root when it has no DIMSE address.

Each file is offered in its stored transfer syntax and, as a fallback, Explicit VR Little
Endian: a node that refuses the compressed one gets the file decompressed. The outcome is one
line per file: what the node answered, in its own terms (a DIMSE status or STOW's verdict).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pydicom
from django.conf import settings
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, build_context

from webapp.pacs.models import DicomNode


class NodeUnreachable(Exception):
    """No association (or HTTP connection) could be made: worth trying again later."""


@dataclass(frozen=True)
class Sent:
    sop_instance_uid: str
    ok: bool
    answer: str  # "0x0000", "0xA700 Out of resources", "stored", ...


def send(node: DicomNode, files: list[Path]) -> list[Sent]:
    if node.has_dimse:
        return c_store(node, files)
    if node.dicomweb_url:
        return stow(node, files)
    raise ValueError(f"node {node.name!r} has neither a DICOM address (host and port) nor a DICOMweb URL")


def c_store(node: DicomNode, files: list[Path]) -> list[Sent]:
    datasets = [pydicom.dcmread(f) for f in files]
    ae = AE(ae_title=settings.DICOM_AE_TITLE)
    ae.network_timeout = ae.acse_timeout = ae.dimse_timeout = settings.DICOM_NETWORK_TIMEOUT
    contexts = []
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        syntaxes = sorted(
            {str(ds.file_meta.TransferSyntaxUID) for ds in datasets if str(ds.SOPClassUID) == sop_class}
        )
        contexts.append(build_context(sop_class, [*syntaxes, ExplicitVRLittleEndian]))
    assoc = ae.associate(node.host, int(node.port), contexts=contexts, ae_title=node.ae_title.strip())
    if not assoc.is_established:
        why = "rejected the association" if assoc.is_rejected else "did not answer"
        raise NodeUnreachable(f"{node.name} ({node.ae_title} at {node.host}:{node.port}) {why}")
    out = []
    try:
        for ds in datasets:
            accepted = {
                str(cx.transfer_syntax[0])
                for cx in assoc.accepted_contexts
                if cx.abstract_syntax == ds.SOPClassUID
            }
            if (
                str(ds.file_meta.TransferSyntaxUID) not in accepted
                and ds.file_meta.TransferSyntaxUID.is_compressed
            ):
                # The node takes only the uncompressed form: the same instance, decompressed.
                ds.decompress(generate_instance_uid=False)
            status = assoc.send_c_store(ds)
            code = int(getattr(status, "Status", -1))
            comment = str(getattr(status, "ErrorComment", "") or "")
            answer = "no answer" if code < 0 else f"0x{code:04X}{' ' + comment if comment else ''}"
            # 0xB000, 0xB007, 0xB006 are warnings: stored, with coercion or elements discarded.
            out.append(Sent(str(ds.SOPInstanceUID), code == 0 or 0xB000 <= code <= 0xBFFF, answer))
    finally:
        if assoc.is_established:
            assoc.release()
    return out


def stow(node: DicomNode, files: list[Path]) -> list[Sent]:
    import requests
    from dicomweb_client.api import DICOMwebClient

    datasets = [pydicom.dcmread(f) for f in files]
    client = DICOMwebClient(node.dicomweb_url.rstrip("/"), timeout=settings.DICOM_NETWORK_TIMEOUT)
    try:
        response = client.store_instances(datasets)
    except requests.ConnectionError as e:
        raise NodeUnreachable(f"{node.name} at {node.dicomweb_url} did not answer ({e})") from e
    except requests.HTTPError as e:
        code = e.response.status_code if e.response is not None else "?"
        return [Sent(str(ds.SOPInstanceUID), False, f"HTTP {code}") for ds in datasets]
    failed = {
        str(item.ReferencedSOPInstanceUID): int(getattr(item, "FailureReason", 0))
        for item in getattr(response, "FailedSOPSequence", [])
    }
    return [
        Sent(
            str(ds.SOPInstanceUID),
            str(ds.SOPInstanceUID) not in failed,
            f"failed 0x{failed[str(ds.SOPInstanceUID)]:04X}"
            if str(ds.SOPInstanceUID) in failed
            else "stored",
        )
        for ds in datasets
    ]
