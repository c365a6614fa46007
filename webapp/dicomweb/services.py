"""DICOMweb reads, audited like every other view of patient data: one row per study search, per
metadata retrieval (the viewer's "opened this study's images") and per whole-instance download.
Frames are not audited one by one: a viewer fetches hundreds per study, all covered by the
metadata row that had to come first."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import groupby

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet

from webapp.accounts.services import audit
from webapp.dicomweb import cache, dicomjson, files, selectors
from webapp.dicomweb.query import Query
from webapp.studies.models import Instance, Series, Study


@dataclass(frozen=True)
class Page:
    rows: list
    more: bool  # more matches exist past this page


def _page(qs: QuerySet, query: Query) -> Page:
    rows = list(qs.filter(query.filters)[query.offset : query.offset + query.limit + 1])
    return Page(rows[: query.limit], len(rows) > query.limit)


def search_studies(acting_user: AbstractBaseUser, query: Query) -> Page:
    """Studies the user sees that match the query. Patient identifiers are shown: audited."""
    page = _page(selectors.searchable_studies(acting_user).order_by("-created_at", "-id"), query)
    with transaction.atomic():
        audit(
            acting_user,
            "study.dicomweb_searched",
            object_type="studies.study",
            details={"study_ids": [s.pk for s in page.rows], "offset": query.offset, "limit": query.limit},
        )
    return page


def search_series(acting_user: AbstractBaseUser, study_uid: str | None, query: Query) -> Page:
    """Series of one study, or (``study_uid`` None) of every study the user sees."""
    if study_uid is None:
        return _page(selectors.visible_series(acting_user), query)
    study = selectors.visible_study(acting_user, study_uid)
    return _page(selectors.series_in(study), query)


def search_instances(
    acting_user: AbstractBaseUser, study_uid: str | None, series_uid: str | None, query: Query
) -> Page:
    """Instances of one series, one study, or (``study_uid`` None) every study the user sees."""
    if study_uid is None:
        return _page(selectors.visible_instances(acting_user), query)
    study = selectors.visible_study(acting_user, study_uid)
    if series_uid is not None:
        selectors.series_by_uid(study, series_uid)  # a series of another study is not found
    return _page(selectors.instances_in(study, series_uid), query)


def retrieve_metadata(
    acting_user: AbstractBaseUser, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
) -> list[dicomjson.Json]:
    """The instances' attributes (no pixel data) for a study, one series or one instance."""
    study = selectors.visible_study(acting_user, study_uid)
    if sop_uid is not None:
        instances = [selectors.instance_by_uid(study, series_uid or "", sop_uid)]
    else:
        if series_uid is not None:
            selectors.series_by_uid(study, series_uid)
        instances = list(selectors.instances_in(study, series_uid))
    metadata: list[dicomjson.Json] = []
    for series_id, group in groupby(instances, key=lambda i: i.series_id):
        group = list(group)
        # Content-addressed: the stored files' hashes, so no stale entry can outlive a change.
        key = ("metadata", series_id, hashlib.sha256("".join(i.sha256 for i in group).encode()).hexdigest())
        metadata += cache.cached(
            key, lambda group=group: [files.instance_metadata(i.absolute_path) for i in group]
        )
    with transaction.atomic():
        audit(
            acting_user,
            "study.dicomweb_metadata",
            study,
            details={
                "study_instance_uid": study.study_instance_uid,
                "patient_id": study.patient.patient_id,
                "series_instance_uids": sorted({i.series.series_instance_uid for i in instances}),
                "instances": len(instances),
            },
        )
    return metadata


def retrieve_instance(
    acting_user: AbstractBaseUser, study_uid: str, series_uid: str, sop_uid: str
) -> Instance:
    """A whole stored file (pixels and identifiers) leaves the site: audited."""
    study = selectors.visible_study(acting_user, study_uid)
    instance = selectors.instance_by_uid(study, series_uid, sop_uid)
    with transaction.atomic():
        audit(
            acting_user,
            "study.dicomweb_instance_retrieved",
            study,
            details={
                "study_instance_uid": study.study_instance_uid,
                "patient_id": study.patient.patient_id,
                "series_instance_uid": series_uid,
                "sop_instance_uid": sop_uid,
            },
        )
    return instance


def instance_for_frames(
    acting_user: AbstractBaseUser, study_uid: str, series_uid: str, sop_uid: str
) -> Instance:
    """The instance whose frames are asked for, if the user sees its study (not audited: see above)."""
    return selectors.visible_instance(acting_user, study_uid, series_uid, sop_uid)


NotFound = (Study.DoesNotExist, Series.DoesNotExist, Instance.DoesNotExist)


def modalities_by_study(study_ids: list[int]) -> dict[int, list[str]]:
    """ModalitiesInStudy for a page of studies, in one query."""
    out: dict[int, list[str]] = {}
    rows = Series.objects.filter(study_id__in=study_ids).values_list("study_id", "modality").distinct()
    for study_id, modality in sorted(rows):
        out.setdefault(study_id, []).append(modality)
    return out
