"""Cohort actions: create a cohort, add a member, upload studies, attach labels.

Each takes the acting user, checks role and object access itself (views only translate), runs
in one transaction and writes its audit row inside it.
"""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from detector.cohort import CohortError, read_labels
from webapp.accounts.services import audit
from webapp.cohorts.models import Cohort, CohortLabel, CohortMember, CohortStudy
from webapp.cohorts.selectors import usable_study_ids, visible_cohorts, visible_studies
from webapp.cohorts.signals import studies_added
from webapp.core.errors import require
from webapp.studies.deid import Deidentifier
from webapp.studies.ingest import IngestBatch, IngestResult
from webapp.studies.models import Study
from webapp.studies.staging import UploadLike, display_name
from webapp.studies.uploads import format_bytes

# A unique-constraint race with a concurrent upload of the same images is resolved by deciding
# the verdicts again; more attempts than this means something else is wrong.
INGEST_COMMIT_ATTEMPTS = 3


def view_study(acting_user: AbstractBaseUser, study_id: int) -> Study:
    """The study with its patient and series, if the user may see it (Study.DoesNotExist if not)."""
    with transaction.atomic():
        study = visible_studies(acting_user).select_related("patient").get(pk=study_id)
        audit(
            acting_user,
            "study.viewed",
            study,
            details={"study_instance_uid": study.study_instance_uid, "patient_id": study.patient.patient_id},
        )
    return study


def get_visible_cohort(acting_user: AbstractBaseUser, cohort_id: int) -> Cohort:
    """The cohort if the user may see it; Cohort.DoesNotExist otherwise (never says which)."""
    return visible_cohorts(acting_user).get(pk=cohort_id)


def create_cohort(
    acting_user: AbstractBaseUser,
    *,
    name: str,
    purpose: str,
    description: str = "",
    deidentify: bool = False,
) -> Cohort:
    """Create a cohort; its creator becomes its first member. A ``deidentify`` cohort
    de-identifies every file uploaded into it (decided now, for good: its studies must all be
    pseudonymised alike)."""
    require(acting_user, "cohorts.add_cohort", "create cohorts")
    name = name.strip()
    if not name:
        raise ValidationError({"name": "a cohort needs a name"})
    if purpose not in Cohort.Purpose.values:
        raise ValidationError({"purpose": f"purpose must be one of {', '.join(Cohort.Purpose.values)}"})
    with transaction.atomic():
        cohort = Cohort.objects.create(
            name=name,
            purpose=purpose,
            description=description,
            deidentify=deidentify,
            deid_seed=secrets.token_hex(32) if deidentify else "",
            created_by=acting_user,
        )
        CohortMember.objects.create(cohort=cohort, user=acting_user, added_by=acting_user)
        audit(
            acting_user,
            "cohort.created",
            cohort,
            details={"name": name, "purpose": purpose, "deidentify": deidentify},
        )
    return cohort


def add_member(acting_user: AbstractBaseUser, cohort: Cohort, username: str) -> CohortMember:
    """Give a user access to a cohort (coordinators add radiologists to the cohorts they run)."""
    require(acting_user, "cohorts.manage_members", "add cohort members")
    if not visible_cohorts(acting_user).filter(pk=cohort.pk).exists():
        raise Cohort.DoesNotExist
    try:
        user = get_user_model().objects.get(username=username, is_active=True)
    except get_user_model().DoesNotExist:
        raise ValidationError({"username": f"no active user named {username!r}"}) from None
    with transaction.atomic():
        member, created = CohortMember.objects.get_or_create(
            cohort=cohort, user=user, defaults={"added_by": acting_user}
        )
        if created:
            audit(acting_user, "cohort.member_added", cohort, details={"username": user.get_username()})
    return member


def upload_to_cohort(
    acting_user: AbstractBaseUser, cohort: Cohort, uploads: Iterable[UploadLike]
) -> IngestResult:
    """Ingest uploaded DICOM files and zips into a cohort: a verdict per file, all or nothing."""
    require(acting_user, "cohorts.upload_studies", "upload studies")
    if not visible_cohorts(acting_user).filter(pk=cohort.pk).exists():
        raise Cohort.DoesNotExist
    uploads = list(uploads)
    if not uploads:
        raise ValidationError({"file": "send one or more DICOM files or zip archives in the 'file' field"})

    def usable(ids: set[int]) -> set[int]:
        return usable_study_ids(acting_user, ids)

    def announce(result: IngestResult) -> None:
        if result.study_ids:
            # Inside the transaction: jobs other apps create commit with the upload.
            studies_added.send(
                sender=Cohort, cohort=cohort, study_ids=result.study_ids, acting_user=acting_user
            )

    return _ingest_into_cohort(acting_user, cohort, uploads, usable, "cohort.upload", {}, inside=announce)


def receive_into_cohort(
    cohort: Cohort,
    uploads: Iterable[UploadLike],
    *,
    source: dict,
    inside: Callable[[IngestResult], None] | None = None,
) -> IngestResult:
    """Ingest files that arrived over the DICOM network into the cohort their sender is mapped
    to, with the same verdicts and atomicity as an upload. No user acts: the audit row names
    the ``source`` (the calling AE title, say). Studies already in other cohorts are not
    touched (as for a user who cannot see them), and no ``studies_added`` is sent: the receiver
    queues detection itself once a study has been quiet for a while, from what ``inside``
    records in the same transaction as the files."""
    uploads = list(uploads)

    def usable(ids: set[int]) -> set[int]:
        in_cohort = CohortStudy.objects.filter(cohort=cohort, study_id__in=ids)
        return set(in_cohort.values_list("study_id", flat=True))

    return _ingest_into_cohort(None, cohort, uploads, usable, "cohort.received", source, inside=inside)


def _ingest_into_cohort(
    acting_user: AbstractBaseUser | None,
    cohort: Cohort,
    uploads: list[UploadLike],
    usable: Callable[[set[int]], set[int]],
    action: str,
    details: dict,
    *,
    inside: Callable[[IngestResult], None] | None,
) -> IngestResult:
    # New patient records are this cohort's own: another cohort's upload of the same PatientID
    # never shows (nor takes) this cohort's demographics.
    deidentifier = Deidentifier(cohort.deid_seed) if cohort.deidentify else None
    with IngestBatch(uploads, patient_scope=f"cohort:{cohort.pk}", deidentifier=deidentifier) as batch:
        for attempt in range(1, INGEST_COMMIT_ATTEMPTS + 1):
            try:
                # durable: the files moved into place must commit with the rows, never inside a
                # caller's transaction that could still roll back after we return.
                with transaction.atomic(durable=True):
                    result = batch.commit(usable)
                    CohortStudy.objects.bulk_create(
                        [
                            CohortStudy(cohort=cohort, study_id=sid, added_by=acting_user)
                            for sid in result.study_ids
                        ],
                        ignore_conflicts=True,
                    )
                    audit(
                        acting_user,
                        action,
                        cohort,
                        details={**details, **result.summary(), "study_ids": result.study_ids[:1000]},
                    )
                    if inside is not None:
                        inside(result)
                return result
            except IntegrityError:
                batch.discard_placed(restage=True)
                if attempt == INGEST_COMMIT_ATTEMPTS:
                    raise
            except BaseException:
                batch.discard_placed()
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class LabelsResult:
    rows: int
    normals: int
    abnormals: int
    studies_labelled: int
    studies_present: int  # labelled studies whose images are already in the cohort
    not_uploaded_yet: list[str] = field(default_factory=list)  # first few labelled UIDs not present
    unlabelled_studies: int = 0


def attach_labels(acting_user: AbstractBaseUser, cohort: Cohort, upload: UploadLike) -> LabelsResult:
    """Replace a calibration cohort's labels with the rows of a labels CSV (detector cohort format)."""
    require(acting_user, "cohorts.attach_labels", "attach labels")
    if not visible_cohorts(acting_user).filter(pk=cohort.pk).exists():
        raise Cohort.DoesNotExist
    if cohort.purpose != Cohort.Purpose.CALIBRATION:
        raise ValidationError(
            {"file": f"labels attach only to calibration cohorts; this one's purpose is {cohort.purpose}"}
        )
    entries = _read_labels_upload(upload)
    if cohort.deidentify:
        entries = _pseudonymised(entries, Deidentifier(cohort.deid_seed))
    by_study: dict[str, set[str]] = {}
    for entry in entries:
        by_study.setdefault(entry.study_instance_uid.strip(), set()).add(entry.label)
    conflicts = sorted(uid for uid, labels in by_study.items() if len(labels) > 1)
    if conflicts:
        raise ValidationError(
            {"file": f"studies labelled both normal and abnormal: {', '.join(conflicts[:5])}"}
        )
    if "" in by_study:
        raise ValidationError({"file": "a row has an empty study_instance_uid"})
    rows = [
        CohortLabel(
            cohort=cohort,
            study_instance_uid=e.study_instance_uid.strip()[:64],
            patient_id=e.patient_id.strip()[:64],
            label=e.label,
            lesion_type=e.lesion_type[:64],
            lesion_center_x_mm=e.lesion_center_lps_mm[0] if e.lesion_center_lps_mm else None,
            lesion_center_y_mm=e.lesion_center_lps_mm[1] if e.lesion_center_lps_mm else None,
            lesion_center_z_mm=e.lesion_center_lps_mm[2] if e.lesion_center_lps_mm else None,
            lesion_diameter_mm=e.lesion_diameter_mm,
            lesion_site=e.lesion_site[:64],
        )
        for e in entries
    ]
    with transaction.atomic():
        CohortLabel.objects.filter(cohort=cohort).delete()
        CohortLabel.objects.bulk_create(rows)
        present = set(
            CohortStudy.objects.filter(cohort=cohort).values_list("study__study_instance_uid", flat=True)
        )
        labelled = set(by_study)
        result = LabelsResult(
            rows=len(rows),
            normals=sum(1 for labels in by_study.values() if labels == {"normal"}),
            abnormals=sum(1 for labels in by_study.values() if labels == {"abnormal"}),
            studies_labelled=len(labelled),
            studies_present=len(labelled & present),
            not_uploaded_yet=sorted(labelled - present)[:20],
            unlabelled_studies=len(present - labelled),
        )
        audit(
            acting_user,
            "cohort.labels_attached",
            cohort,
            details={"rows": result.rows, "normals": result.normals, "abnormals": result.abnormals},
        )
    return result


def _pseudonymised(entries: list, deidentifier: Deidentifier) -> list:
    """A de-identified cohort's labels CSV names studies as the hospital knows them; its rows
    are kept under the pseudonyms the images got (the originals are not stored with them)."""
    out = []
    for e in entries:
        patient_id, study_uid = deidentifier.pseudonyms(e.patient_id.strip(), e.study_instance_uid.strip())
        if not e.patient_id.strip():
            patient_id = ""
        out.append(dataclasses.replace(e, patient_id=patient_id, study_instance_uid=study_uid))
    return out


def _read_labels_upload(upload: UploadLike) -> list:
    """Parse an uploaded labels CSV with the detector's reader; errors name the uploaded file."""
    name = display_name(upload.name or "labels.csv")
    upload.seek(0)
    data = upload.read(settings.INGEST_LABELS_MAX_BYTES + 1)
    if len(data) > settings.INGEST_LABELS_MAX_BYTES:
        raise ValidationError(
            {"file": f"{name}: over the {format_bytes(settings.INGEST_LABELS_MAX_BYTES)} limit"}
        )
    try:
        text = data.decode("utf-8-sig")  # spreadsheets often save a byte-order mark
    except UnicodeDecodeError:
        raise ValidationError({"file": f"{name}: not UTF-8 text; save the CSV as UTF-8"}) from None
    with tempfile.TemporaryDirectory(prefix="labels-") as tmp:
        path = Path(tmp) / "labels.csv"
        path.write_text(text, encoding="utf-8")
        try:
            entries = read_labels(path)
        except CohortError as e:
            raise ValidationError({"file": str(e).replace(str(path), name)}) from None
        except (ValueError, KeyError) as e:
            raise ValidationError({"file": f"{name}: {e}"}) from None
    if not entries:
        raise ValidationError({"file": f"{name}: no rows"})
    return entries
