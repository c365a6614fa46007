"""A result as a Comprehensive 3D SR measurement report (TID 1500): the patient-level scores
and what they mean at the active operating point of the newest calibration (the call, the
threshold and the calibrated sensitivity and specificity), then each finding as a 3-D point
(SCOORD3D, LPS mm in the CT's frame of reference) with its score, its size and its lung.

Our own concepts (the scores, the call) use the private scheme ``99FSCREEN``; sizes and
anatomy use SNOMED CT and UCUM codes every reader of TID 1500 knows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from highdicom import UID
from highdicom.sr import (
    AlgorithmIdentification,
    Comprehensive3DSR,
    DeviceObserverIdentifyingAttributes,
    FindingSite,
    GraphicTypeValues3D,
    ImageRegion3D,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    PlanarROIMeasurementsAndQualitativeEvaluations,
    QualitativeEvaluation,
    TrackingIdentifier,
)
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

from webapp.pacs.equipment import MANUFACTURER, SCHEME, Equipment
from webapp.pacs.source_images import SourceImages

SCORE_UNIT = Code("1", "UCUM", "no units")
PERCENT = Code("%", "UCUM", "percent")
MILLIMETRE = Code("mm", "UCUM", "millimeter")
CONCEPTS = {
    "fused": Code("FS-SCORE-FUSED", SCHEME, "Fused anomaly score"),
    "global": Code("FS-SCORE-GLOBAL", SCHEME, "Global-branch anomaly score"),
    "local": Code("FS-SCORE-LOCAL", SCHEME, "Local-branch anomaly score"),
    "finding": Code("FS-SCORE-FINDING", SCHEME, "Finding anomaly score"),
    "threshold": Code("FS-THRESHOLD", SCHEME, "Operating point threshold"),
    "sensitivity": Code("FS-SENSITIVITY", SCHEME, "Calibrated sensitivity"),
    "specificity": Code("FS-SPECIFICITY", SCHEME, "Calibrated specificity"),
    "operating_point": Code("FS-OPERATING-POINT", SCHEME, "Operating point"),
    "call": Code("FS-CALL", SCHEME, "Anomaly at operating point"),
}
POSITIVE = Code("FS-POSITIVE", SCHEME, "Anomalous: read with priority")
NEGATIVE = Code("FS-NEGATIVE", SCHEME, "Not anomalous at this operating point")
LATERALITY = {"left": codes.SCT.Left, "right": codes.SCT.Right}


@dataclass(frozen=True)
class Call:
    """The active operating point of the newest calibration and the study's call there."""

    name: str
    label: str
    threshold: float
    sensitivity: float | None
    specificity: float | None
    positive: bool
    calibration_id: int


def _point_concept(call: Call) -> Code:
    return Code(f"FS-POINT-{call.name.upper()}"[:16], SCHEME, call.label)


def _study_group(
    scores: dict[str, float], call: Call | None, equipment: Equipment
) -> MeasurementsAndQualitativeEvaluations:
    measurements = [
        Measurement(name=CONCEPTS[kind], value=float(scores[kind]), unit=SCORE_UNIT)
        for kind in ("fused", "global", "local")
    ]
    evaluations = []
    if call is not None:
        measurements.append(
            Measurement(name=CONCEPTS["threshold"], value=float(call.threshold), unit=SCORE_UNIT)
        )
        for key in ("sensitivity", "specificity"):
            value = getattr(call, key)
            if value is not None:
                measurements.append(
                    Measurement(name=CONCEPTS[key], value=round(100 * float(value), 2), unit=PERCENT)
                )
        evaluations = [
            QualitativeEvaluation(CONCEPTS["operating_point"], _point_concept(call)),
            QualitativeEvaluation(CONCEPTS["call"], POSITIVE if call.positive else NEGATIVE),
        ]
    session = f"calibration {call.calibration_id}" if call else "not calibrated"
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=UID(), identifier="study"),
        algorithm_id=equipment.algorithm_id(),
        session=session,
        measurements=measurements,
        qualitative_evaluations=evaluations or None,
    )


def point_group(
    identifier: str,
    center_lps_mm: list[float],
    source: SourceImages,
    measurements: list[Measurement],
    *,
    finding_sites: list[FindingSite] | None = None,
    algorithm_id: AlgorithmIdentification | None = None,
) -> PlanarROIMeasurementsAndQualitativeEvaluations:
    """A lesion (a finding, or a reader's mark) as a TID 1410 group around a SCOORD3D POINT in
    the CT's frame of reference."""
    point = ImageRegion3D(
        graphic_type=GraphicTypeValues3D.POINT,
        graphic_data=np.asarray([center_lps_mm], dtype=float),
        frame_of_reference_uid=source.frame_of_reference_uid,
    )
    return PlanarROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=UID(), identifier=identifier),
        referenced_region=point,
        finding_type=codes.SCT.Lesion,
        algorithm_id=algorithm_id,
        finding_sites=finding_sites,
        measurements=measurements or None,
        geometric_purpose=codes.DCM.Center,
    )


def sr_document(
    source: SourceImages,
    observation_context: ObservationContext,
    groups: list,
    *,
    series_instance_uid: str,
    series_number: int,
    instance_number: int,
    series_description: str,
    previous_versions: list | None = None,
) -> Comprehensive3DSR:
    """A TID 1500 measurement report as a Comprehensive 3D SR in the CT's study."""
    report = MeasurementReport(
        observation_context=observation_context,
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=groups,
        title=codes.DCM.ImagingMeasurementReport,
    )
    return Comprehensive3DSR(
        evidence=source.datasets,
        content=report,
        series_instance_uid=series_instance_uid,
        series_number=series_number,
        sop_instance_uid=UID(),
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        is_complete=True,
        previous_versions=previous_versions,
        series_description=series_description,
    )


def _finding_group(n: int, peak: dict, source: SourceImages, equipment: Equipment):
    measurements = []
    if peak.get("score") is not None:
        measurements.append(
            Measurement(name=CONCEPTS["finding"], value=float(peak["score"]), unit=SCORE_UNIT)
        )
    if peak.get("size_mm") is not None:
        measurements.append(
            Measurement(name=codes.SCT.Diameter, value=float(peak["size_mm"]), unit=MILLIMETRE)
        )
    lung = (peak.get("zone") or {}).get("lung")
    sites = (
        [FindingSite(anatomic_location=codes.SCT.Lung, laterality=LATERALITY[lung])]
        if lung in LATERALITY
        else None
    )
    return point_group(
        f"finding-{n}",
        peak["center_lps_mm"],
        source,
        measurements,
        finding_sites=sites,
        algorithm_id=equipment.algorithm_id(),
    )


def measurement_report(
    source: SourceImages,
    scores: dict[str, float],
    peaks: list[dict],
    call: Call | None,
    equipment: Equipment,
    series_instance_uid: str,
) -> Comprehensive3DSR:
    observer = ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=UID(),
            name="FusionScreen",
            manufacturer_name=MANUFACTURER,
            model_name=equipment.model_name[:64],
        ),
    )
    groups = [
        _study_group(scores, call, equipment),
        *(_finding_group(n, peak, source, equipment) for n, peak in enumerate(peaks, start=1)),
    ]
    return sr_document(
        source,
        ObservationContext(observer_device_context=observer),
        groups,
        series_instance_uid=series_instance_uid,
        series_number=9103,
        instance_number=1,
        series_description="FusionScreen measurement report",
    )
