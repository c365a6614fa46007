"""Settings for DICOM (imported by webapp/settings.py): DICOMweb's limits, the C-STORE receiver,
when a received study counts as complete, and results as DICOM objects. deploy/README.md lists every
variable; docs/interoperability.md says how to connect a PACS."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_float, env_int, env_str

# --- DICOMweb ---
# QIDO-RS answers at most this many matches per request (clients page with offset).
DICOMWEB_MAX_RESULTS = env_int("DICOMWEB_MAX_RESULTS", 10000)
# WADO-RS frames: distinct frame numbers, at most this many per request, streamed part by part.
DICOMWEB_MAX_FRAMES_PER_REQUEST = env_int("DICOMWEB_MAX_FRAMES_PER_REQUEST", 512)
# How long a browser may reuse a frame without asking again (a SOP instance never changes; after
# this the ETag revalidates it, which re-checks access).
DICOMWEB_FRAME_MAX_AGE = env_int("DICOMWEB_FRAME_MAX_AGE", 3600)

# --- the DICOM network ---
# Our AE title: callers must address it (Called AE Title) and it is the Calling AE Title of
# everything we send.
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "FUSIONSCREEN").strip()
if not 1 <= len(DICOM_AE_TITLE) <= 16 or "\\" in DICOM_AE_TITLE:
    raise ImproperlyConfigured(f"DICOM_AE_TITLE={DICOM_AE_TITLE!r}: 1 to 16 characters, no backslash")
# Where `manage.py dicom_receiver` listens (104 is the registered port; 11112 needs no root).
DICOM_BIND = env_str("DICOM_BIND", "127.0.0.1")
DICOM_PORT = env_int("DICOM_PORT", 11112)
DICOM_MAX_ASSOCIATIONS = env_int("DICOM_MAX_ASSOCIATIONS", 10)
# Seconds without a new instance after which a received study is complete and queued.
DICOM_QUIET_SECONDS = env_float("DICOM_QUIET_SECONDS", 60.0)
# Seconds a peer may stay silent inside an association before it is dropped.
DICOM_NETWORK_TIMEOUT = env_float("DICOM_NETWORK_TIMEOUT", 60.0)
# Build SEG, Parametric Map and SR for every result as it is stored (else on first download).
DICOM_EXPORT_RESULTS = env_bool("DICOM_EXPORT_RESULTS", True)
