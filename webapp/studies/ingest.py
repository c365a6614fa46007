"""Ingest: uploaded files or zips -> a verdict per file -> Patient/Study/Series/Instance rows and
files under MEDIA_ROOT, all or nothing.

Use it from a service that owns the transaction (webapp.cohorts.services.upload_to_cohort)::

    with IngestBatch(uploads) as batch:           # stage + parse, outside any transaction
        with transaction.atomic(durable=True):
            result = batch.commit(usable_study_ids)  # rows + files moved into place
            ...link to the cohort, audit...

If anything inside raises, the rows roll back and ``IngestBatch.__exit__`` removes the files it
moved; the staging folder is always removed. Stored file names carry a per-batch token, so a
batch only ever deletes files it wrote itself, even when two uploads race for one instance.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from django.conf import settings

from webapp.core.errors import STORAGE_FULL_MESSAGE, StorageFull, is_storage_full
from webapp.studies.deid import Deidentifier, Originals
from webapp.studies.dicom import InflationLimit, ParsedInstance, Rejected, parse_instance
from webapp.studies.models import Instance, Patient, Pseudonym, Series, Study, series_relative_folder
from webapp.studies.staging import Limits, StagedFile, Stager, UploadLike, file_digest

log = logging.getLogger(__name__)

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
REJECTED = "rejected"


@dataclass
class FileVerdict:
    name: str
    verdict: str
    reason: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""


@dataclass
class IngestResult:
    files: list[FileVerdict]
    # Studies this upload stored into or confirmed (accepted + duplicates the user may see).
    study_ids: list[int] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(1 for f in self.files if f.verdict == verdict)

    def summary(self) -> dict[str, int]:
        return {v: self.count(v) for v in (ACCEPTED, DUPLICATE, REJECTED)}


@dataclass
class _Item:
    staged: StagedFile
    parsed: ParsedInstance | None = None
    verdict: FileVerdict | None = None
    originals: Originals | None = None  # what a de-identified file said before


# Given study ids that already exist, return those the acting user may add files to.
UsableStudies = Callable[[set[int]], set[int]]


def _demographics(name: str, birth_date: object, sex: str) -> tuple[str, str, str]:
    return (name.strip().upper(), str(birth_date or ""), sex.strip().upper())


def _differences(recorded: tuple[str, str, str], said: tuple[str, str, str]) -> str:
    names = [n for n, a, b in zip(("name", "birth date", "sex"), recorded, said) if a != b]
    return " and ".join(names)


class IngestBatch:
    """Stage and parse uploads on entry; ``commit`` stores them; clean up on exit. A full disk
    anywhere inside becomes ``StorageFull`` after the clean-up."""

    def __init__(
        self,
        uploads: Iterable[UploadLike],
        *,
        patient_scope: str = "",
        limits: Limits | None = None,
        deidentifier: Deidentifier | None = None,
    ) -> None:
        """``patient_scope`` names whose patient records new studies get (the cohort's);
        ``deidentifier``, if given, rewrites every file before anything else reads it."""
        self.uploads = list(uploads)
        self.patient_scope = patient_scope
        self.deidentifier = deidentifier
        self.limits = limits or Limits.from_settings()
        self.inflation = InflationLimit(
            self.limits.max_instance_bytes, self.limits.zip_max_ratio, self.limits.zip_ratio_min_bytes
        )
        self.media_root = Path(settings.MEDIA_ROOT)
        self.token = uuid.uuid4().hex[:12]
        self.staging = self.media_root / ".staging" / self.token
        self.items: list[_Item] = []
        self._placed: list[tuple[Path, Path]] = []  # (staged, final)
        self._made_dirs: list[Path] = []
        self._confirmed_study_ids: set[int] = set()  # duplicates' studies, linked like new ones

    def __enter__(self) -> IngestBatch:
        # Staging lives under MEDIA_ROOT so moving a file into place is a rename on one disk.
        self.staging.mkdir(parents=True, exist_ok=False)
        try:
            stager = Stager(self.staging, self.limits)
            for upload in self.uploads:
                for staged in stager.stage(upload):
                    self.items.append(self._parse(staged))
        except BaseException as exc:
            self._remove_staging()
            if is_storage_full(exc):
                raise StorageFull(STORAGE_FULL_MESSAGE) from exc
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.discard_placed()
        self._remove_staging()
        if exc is not None and is_storage_full(exc) and not isinstance(exc, StorageFull):
            raise StorageFull(STORAGE_FULL_MESSAGE) from exc

    def _parse(self, staged: StagedFile) -> _Item:
        item = _Item(staged)
        if staged.rejected:
            item.verdict = FileVerdict(staged.name, REJECTED, staged.rejected)
            return item
        assert staged.path is not None
        try:
            with staged.path.open("rb") as f:
                if f.read(4) == b"PK\x03\x04":
                    raise Rejected("a zip inside a zip is not opened: upload the inner archive on its own")
            item.parsed = parse_instance(staged.path, self.inflation)
            if self.deidentifier is not None:
                # The file is checked first (bounded inflation, a CT image), then rewritten,
                # then read again: rows, verdicts and stored bytes all carry the pseudonyms.
                item.originals = self.deidentifier.rewrite(staged.path)
                staged.size, staged.sha256 = file_digest(staged.path)
                item.parsed = parse_instance(staged.path, self.inflation)
        except Rejected as e:
            item.parsed = None
            item.verdict = FileVerdict(staged.name, REJECTED, str(e))
        return item

    # --- commit ---------------------------------------------------------------------------
    def commit(self, usable_studies: UsableStudies) -> IngestResult:
        """Decide every verdict against the database, create rows, move files into place.

        Must run inside the caller's transaction; any exception leaves nothing behind once
        the transaction rolls back and the batch exits.
        """
        for item in self.items:
            if item.parsed is not None:
                item.verdict = None  # a retried commit decides again from the database
        self._decide(usable_studies)
        study_ids = self._store()
        files = [item.verdict for item in self.items if item.verdict is not None]
        return IngestResult(files=files, study_ids=sorted(study_ids))

    def _decide(self, usable_studies: UsableStudies) -> None:
        """Verdicts for the parsed files; the first file in upload order wins any conflict."""
        pairs = [(it, it.parsed) for it in self.items if it.parsed is not None]
        stored = {
            i.sop_instance_uid: i
            for i in Instance.objects.filter(
                sop_instance_uid__in={p.sop_instance_uid for _, p in pairs}
            ).select_related("series__study")
        }
        studies = {
            s.study_instance_uid: s
            for s in Study.objects.filter(
                study_instance_uid__in={p.study_instance_uid for _, p in pairs}
            ).select_related("patient")
        }
        series = {
            s.series_instance_uid: s
            for s in Series.objects.filter(
                series_instance_uid__in={p.series_instance_uid for _, p in pairs}
            ).select_related("study")
        }
        existing_study_ids = {s.pk for s in studies.values()} | {i.series.study_id for i in stored.values()}
        usable = usable_studies(existing_study_ids) if existing_study_ids else set()
        not_yours = "already stored in a cohort you do not have access to; ask that cohort's coordinator"

        in_scope = {
            (pt.patient_id, pt.issuer_of_patient_id): _demographics(pt.patient_name, pt.birth_date, pt.sex)
            for pt in Patient.objects.filter(
                scope=self.patient_scope, patient_id__in={p.patient_id for _, p in pairs}
            )
        }
        self._confirmed_study_ids = set()
        first_with_sop: dict[str, str] = {}
        batch_study_patient: dict[str, tuple[str, str]] = {}
        batch_series_study: dict[str, str] = {}
        for it, p in pairs:
            if p.sop_instance_uid in stored:
                inst = stored[p.sop_instance_uid]
                if inst.series.study_id not in usable:
                    it.verdict = _verdict(it, p, REJECTED, f"this image is {not_yours}")
                else:
                    same = (
                        "same content"
                        if inst.sha256 == it.staged.sha256
                        else "different bytes, kept the stored file"
                    )
                    it.verdict = _verdict(it, p, DUPLICATE, f"SOPInstanceUID already stored ({same})")
                    self._confirmed_study_ids.add(inst.series.study_id)
                continue
            if p.sop_instance_uid in first_with_sop:
                reason = f"same SOPInstanceUID as {first_with_sop[p.sop_instance_uid]} in this upload"
                it.verdict = _verdict(it, p, DUPLICATE, reason)
                continue
            known_series = series.get(p.series_instance_uid)
            series_study = (
                known_series.study.study_instance_uid
                if known_series
                else batch_series_study.get(p.series_instance_uid)
            )
            if series_study is not None and series_study != p.study_instance_uid:
                reason = (
                    f"SeriesInstanceUID already belongs to study {series_study}, not {p.study_instance_uid}"
                )
                it.verdict = _verdict(it, p, REJECTED, reason)
                continue
            patient_key = (p.patient_id, p.issuer_of_patient_id)
            known_study = studies.get(p.study_instance_uid)
            if known_study is not None and known_study.pk not in usable:
                it.verdict = _verdict(it, p, REJECTED, f"this study is {not_yours}")
                continue
            if known_study is not None:
                study_patient = (known_study.patient.patient_id, known_study.patient.issuer_of_patient_id)
            else:
                study_patient = batch_study_patient.get(p.study_instance_uid, patient_key)
            if study_patient != patient_key:
                reason = f"StudyInstanceUID belongs to patient {study_patient[0]!r}, but this file says {p.patient_id!r}"
                it.verdict = _verdict(it, p, REJECTED, reason)
                continue
            if known_study is None:
                # A new study joins this cohort's record of the patient: its demographics must
                # agree with it (never merged silently; a mismatch is the file's verdict).
                said = _demographics(p.patient_name, p.patient_birth_date, p.patient_sex)
                recorded = in_scope.setdefault(patient_key, said)
                if recorded != said:
                    reason = (
                        f"PatientID {p.patient_id!r} is already a patient of this cohort with another "
                        f"{_differences(recorded, said)}; correct the file or the stored record (nothing was merged)"
                    )
                    it.verdict = _verdict(it, p, REJECTED, reason)
                    continue
            first_with_sop[p.sop_instance_uid] = it.staged.name
            batch_study_patient[p.study_instance_uid] = patient_key
            batch_series_study[p.series_instance_uid] = p.study_instance_uid
            it.verdict = _verdict(it, p, ACCEPTED)

    def _store(self) -> set[int]:
        accepted = [it for it in self.items if it.verdict is not None and it.verdict.verdict == ACCEPTED]
        patients: dict[tuple[str, str], Patient] = {}
        studies: dict[str, Study] = {}
        series: dict[str, Series] = {}
        instances: list[Instance] = []
        moves: list[tuple[Path, Path]] = []
        for it in accepted:
            p = it.parsed
            assert p is not None and it.staged.path is not None
            key = (p.patient_id, p.issuer_of_patient_id)
            if key not in patients:
                patients[key], _ = Patient.objects.get_or_create(
                    scope=self.patient_scope,
                    patient_id=p.patient_id,
                    issuer_of_patient_id=p.issuer_of_patient_id,
                    defaults={
                        "patient_name": p.patient_name,
                        "birth_date": p.patient_birth_date,
                        "sex": p.patient_sex,
                    },
                )
            if p.study_instance_uid not in studies:
                studies[p.study_instance_uid], _ = Study.objects.get_or_create(
                    study_instance_uid=p.study_instance_uid,
                    defaults={
                        "patient": patients[key],
                        "study_date": p.study_date,
                        "study_description": p.study_description,
                        "accession_number": p.accession_number,
                    },
                )
            if p.series_instance_uid not in series:
                series[p.series_instance_uid], _ = Series.objects.get_or_create(
                    series_instance_uid=p.series_instance_uid,
                    defaults={
                        "study": studies[p.study_instance_uid],
                        "modality": p.modality,
                        "series_number": p.series_number,
                        "series_description": p.series_description,
                        "body_part_examined": p.body_part_examined,
                    },
                )
            relative = series_relative_folder(p.study_instance_uid, p.series_instance_uid) / (
                f"{p.sop_instance_uid}_{self.token}.dcm"
            )
            instances.append(
                Instance(
                    sop_instance_uid=p.sop_instance_uid,
                    sop_class_uid=p.sop_class_uid,
                    series=series[p.series_instance_uid],
                    instance_number=p.instance_number,
                    rows=p.rows,
                    columns=p.columns,
                    number_of_frames=p.number_of_frames,
                    transfer_syntax_uid=p.transfer_syntax_uid,
                    file_path=relative.as_posix(),
                    file_size=it.staged.size,
                    sha256=it.staged.sha256,
                )
            )
            moves.append((it.staged.path, self.media_root / relative))
        Instance.objects.bulk_create(instances, batch_size=500)
        self._record_pseudonyms(accepted)
        for src, dst in moves:
            self._place(src, dst)
        return {s.pk for s in studies.values()} | self._confirmed_study_ids

    def _record_pseudonyms(self, accepted: list[_Item]) -> None:
        """One pseudonym-map row per de-identified study (the first file of it says who)."""
        rows: dict[str, Pseudonym] = {}
        for it in accepted:
            if it.originals is None or it.parsed is None or it.parsed.study_instance_uid in rows:
                continue
            rows[it.parsed.study_instance_uid] = Pseudonym(
                scope=self.patient_scope,
                study_instance_uid=it.parsed.study_instance_uid,
                patient_id=it.parsed.patient_id,
                original_study_instance_uid=it.originals.study_instance_uid,
                original_patient_id=it.originals.patient_id,
                original_issuer_of_patient_id=it.originals.issuer_of_patient_id,
            )
        Pseudonym.objects.bulk_create(rows.values(), ignore_conflicts=True)

    def _place(self, src: Path, dst: Path) -> None:
        """Move one staged file to its final name (a rename: staging is on the same disk)."""
        missing = []
        parent = dst.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        dst.parent.mkdir(parents=True, exist_ok=True)
        self._made_dirs.extend(reversed(missing))
        os.replace(src, dst)
        self._placed.append((src, dst))

    def discard_placed(self, *, restage: bool = False) -> None:
        """Undo the moves of a failed commit: back into staging for a retry (``restage``), else
        delete. Folders this batch created are removed when empty."""
        for src, dst in self._placed:
            try:
                if restage:
                    os.replace(dst, src)
                else:
                    dst.unlink(missing_ok=True)
            except OSError:  # pragma: no cover - logged; the rows are rolled back anyway
                log.exception("could not undo %s after a failed ingest", dst)
        self._placed.clear()
        for folder in sorted(set(self._made_dirs), key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty: another batch stored files there meanwhile
                folder.rmdir()
        self._made_dirs.clear()

    def _remove_staging(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _verdict(item: _Item, parsed: ParsedInstance, kind: str, reason: str = "") -> FileVerdict:
    return FileVerdict(
        item.staged.name,
        kind,
        reason,
        sop_instance_uid=parsed.sop_instance_uid,
        study_instance_uid=parsed.study_instance_uid,
        series_instance_uid=parsed.series_instance_uid,
    )
