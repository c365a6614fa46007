"""Why an instance was refused, as the DICOM status codes both STOW-RS (FailureReason,
0008,1197) and C-STORE (the response's Status) carry: one mapping from the ingest's reasons in
words, so the two doors into the archive answer alike (PS3.4 B.2.3, PS3.18 10.5.3)."""

from __future__ import annotations

PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
OUT_OF_RESOURCES = 0xA700
DOES_NOT_MATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000


def failure_reason(verdict_reason: str, parsed: bool) -> int:
    """The failure code for an ingest refusal."""
    text = verdict_reason.lower()
    if not parsed or "not a dicom file" in text or "unreadable" in text or "truncated" in text:
        return CANNOT_UNDERSTAND
    if "not ct" in text or "not a ct image" in text or "sop class" in text:
        return SOP_CLASS_NOT_SUPPORTED
    if "limit" in text:
        return OUT_OF_RESOURCES
    return PROCESSING_FAILURE
