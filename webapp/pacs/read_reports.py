"""A radiologist's read as a Comprehensive 3D SR (TID 1500), made when the read is submitted:
the reader as the person observer, the verdict, the reading time and what the AI showed them
(score, operating point, call), then each lesion mark as a 3-D point (LPS mm in the CT's frame of
reference) with its diameter. An amendment's report names the report it replaces
(Predecessor Documents), so a PACS shows the history."""

from __future__ import annotations

from pathlib import Path

import pydicom
from highdicom import UID
from highdicom.sr import (
    Comprehensive3DSR,
    Measurement,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    PersonObserverIdentifyingAttributes,
    QualitativeEvaluation,
    TrackingIdentifier,
)
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from webapp.pacs.equipment import SCHEME
from webapp.pacs.reports import CONCEPTS, MILLIMETRE, NEGATIVE, POSITIVE, SCORE_UNIT, point_group, sr_document
from webapp.pacs.source_images import SourceImages

VERDICT = Code("FS-VERDICT", SCHEME, "Reader's verdict")
VERDICTS = {
    "normal": codes.SCT.Normal,
    "abnormal": codes.SCT.Abnormal,
    "uncertain": Code("42425007", "SCT", "Equivocal"),
}
READING_TIME = Code("FS-READING-TIME", SCHEME, "Reading time")
SECONDS = Code("s", "UCUM", "second")
AI_SHOWN = Code("FS-AI-SHOWN", SCHEME, "AI result shown to the reader")
YES, NO = codes.SCT.Yes, codes.SCT.No


def _person_name(user: object) -> str:
    """The reader as a DICOM person name (family^given), or the user name."""
    last, first = getattr(user, "last_name", ""), getattr(user, "first_name", "")
    return f"{last}^{first}" if last or first else user.get_username()  # type: ignore[attr-defined]


def read_report(
    read: object, source: SourceImages, series_instance_uid: str, previous: Path | None
) -> Comprehensive3DSR:
    study_measurements = [
        Measurement(name=READING_TIME, value=round(float(read.reading_seconds), 1), unit=SECONDS)
    ]
    evaluations = [
        QualitativeEvaluation(VERDICT, VERDICTS[read.verdict]),
        QualitativeEvaluation(AI_SHOWN, NO if read.blinded else YES),
    ]
    if not read.blinded:
        study_measurements.append(
            Measurement(name=CONCEPTS["fused"], value=float(read.fused_score), unit=SCORE_UNIT)
        )
        if read.threshold is not None:
            study_measurements.append(
                Measurement(name=CONCEPTS["threshold"], value=float(read.threshold), unit=SCORE_UNIT)
            )
        if read.ai_call:
            evaluations.append(
                QualitativeEvaluation(CONCEPTS["call"], POSITIVE if read.ai_call == "positive" else NEGATIVE)
            )
    groups = [
        MeasurementsAndQualitativeEvaluations(
            tracking_identifier=TrackingIdentifier(uid=UID(), identifier="read"),
            session=f"read {read.pk} version {read.version}",
            measurements=study_measurements,
            qualitative_evaluations=evaluations,
        )
    ]
    for n, mark in enumerate(read.lesion_marks, start=1):
        measurements = []
        if mark.get("diameter_mm"):
            measurements.append(
                Measurement(name=codes.SCT.Diameter, value=float(mark["diameter_mm"]), unit=MILLIMETRE)
            )
        groups.append(point_group(f"mark-{n}", mark["center_lps_mm"], source, measurements))
    observer = ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=PersonObserverIdentifyingAttributes(name=_person_name(read.reader)),
    )
    return sr_document(
        source,
        ObservationContext(observer_person_context=observer),
        groups,
        series_instance_uid=series_instance_uid,
        series_number=9104,
        instance_number=read.version,
        series_description="FusionScreen reader's report",
        previous_versions=[pydicom.dcmread(previous)] if previous is not None else None,
    )
