"""The DICOM JSON model (PS3.18 F.2): attribute values as ``{"vr": ..., "Value": [...]}`` keyed by
the tag's eight hex digits, built from the study index (QIDO-RS) or from stored files (WADO-RS)."""

from __future__ import annotations

import datetime as dt
from typing import Any

Json = dict[str, Any]

# Tags the QIDO-RS answers carry (keyword -> (tag, VR)).
STUDY_INSTANCE_UID = ("0020000D", "UI")
SERIES_INSTANCE_UID = ("0020000E", "UI")
SOP_INSTANCE_UID = ("00080018", "UI")
SOP_CLASS_UID = ("00080016", "UI")
STUDY_DATE = ("00080020", "DA")
STUDY_TIME = ("00080030", "TM")
ACCESSION_NUMBER = ("00080050", "SH")
MODALITIES_IN_STUDY = ("00080061", "CS")
MODALITY = ("00080060", "CS")
REFERRING_PHYSICIAN_NAME = ("00080090", "PN")
STUDY_DESCRIPTION = ("00081030", "LO")
SERIES_DESCRIPTION = ("0008103E", "LO")
RETRIEVE_URL = ("00081190", "UR")
AVAILABLE_TRANSFER_SYNTAX_UID = ("00083002", "UI")
PATIENT_NAME = ("00100010", "PN")
PATIENT_ID = ("00100020", "LO")
ISSUER_OF_PATIENT_ID = ("00100021", "LO")
PATIENT_BIRTH_DATE = ("00100030", "DA")
PATIENT_SEX = ("00100040", "CS")
BODY_PART_EXAMINED = ("00180015", "CS")
STUDY_ID = ("00200010", "SH")
SERIES_NUMBER = ("00200011", "IS")
INSTANCE_NUMBER = ("00200013", "IS")
NUMBER_OF_STUDY_RELATED_SERIES = ("00201206", "IS")
NUMBER_OF_STUDY_RELATED_INSTANCES = ("00201208", "IS")
NUMBER_OF_SERIES_RELATED_INSTANCES = ("00201209", "IS")
NUMBER_OF_FRAMES = ("00280008", "IS")
ROWS = ("00280010", "US")
COLUMNS = ("00280011", "US")
TRANSFER_SYNTAX_UID = ("00020010", "UI")


def attr(out: Json, tag_vr: tuple[str, str], *values: Any) -> None:
    """Set one attribute; ``None`` and empty strings are dropped, no values leaves it present but empty."""
    tag, vr = tag_vr
    kept = [v for v in values if v is not None and v != ""]
    if vr == "PN":
        kept = [{"Alphabetic": str(v)} for v in kept]
    elif vr == "DA":
        kept = [v.strftime("%Y%m%d") if isinstance(v, dt.date) else str(v) for v in kept]
    elif vr in {"IS", "US"}:
        kept = [int(v) for v in kept]
    else:
        kept = [str(v) for v in kept]
    out[tag] = {"vr": vr, "Value": kept} if kept else {"vr": vr}


def study_json(study, modalities: list[str], retrieve_url: str) -> Json:
    """A QIDO-RS study result from the index (no file is read)."""
    out: Json = {}
    attr(out, STUDY_DATE, study.study_date)
    attr(out, STUDY_TIME)
    attr(out, ACCESSION_NUMBER, study.accession_number)
    attr(out, MODALITIES_IN_STUDY, *modalities)
    attr(out, REFERRING_PHYSICIAN_NAME)
    attr(out, STUDY_DESCRIPTION, study.study_description)
    attr(out, PATIENT_NAME, study.patient.patient_name)
    attr(out, PATIENT_ID, study.patient.patient_id)
    attr(out, ISSUER_OF_PATIENT_ID, study.patient.issuer_of_patient_id)
    attr(out, PATIENT_BIRTH_DATE, study.patient.birth_date)
    attr(out, PATIENT_SEX, study.patient.sex)
    attr(out, STUDY_INSTANCE_UID, study.study_instance_uid)
    attr(out, STUDY_ID)
    attr(out, NUMBER_OF_STUDY_RELATED_SERIES, study.series_count)
    attr(out, NUMBER_OF_STUDY_RELATED_INSTANCES, study.instance_count)
    attr(out, RETRIEVE_URL, retrieve_url)
    return out


def series_json(study, series, retrieve_url: str) -> Json:
    out: Json = {}
    attr(out, MODALITY, series.modality)
    attr(out, SERIES_DESCRIPTION, series.series_description)
    attr(out, BODY_PART_EXAMINED, series.body_part_examined)
    attr(out, STUDY_INSTANCE_UID, study.study_instance_uid)
    attr(out, SERIES_INSTANCE_UID, series.series_instance_uid)
    attr(out, SERIES_NUMBER, series.series_number)
    attr(out, NUMBER_OF_SERIES_RELATED_INSTANCES, series.instance_count)
    attr(out, RETRIEVE_URL, retrieve_url)
    return out


def instance_json(study, instance, retrieve_url: str, served_transfer_syntax: str) -> Json:
    out: Json = {}
    attr(out, SOP_CLASS_UID, instance.sop_class_uid)
    attr(out, SOP_INSTANCE_UID, instance.sop_instance_uid)
    attr(out, MODALITY, instance.series.modality)
    attr(out, AVAILABLE_TRANSFER_SYNTAX_UID, served_transfer_syntax)
    attr(out, RETRIEVE_URL, retrieve_url)
    attr(out, STUDY_INSTANCE_UID, study.study_instance_uid)
    attr(out, SERIES_INSTANCE_UID, instance.series.series_instance_uid)
    attr(out, INSTANCE_NUMBER, instance.instance_number)
    attr(out, NUMBER_OF_FRAMES, instance.number_of_frames)
    attr(out, ROWS, instance.rows)
    attr(out, COLUMNS, instance.columns)
    return out
