"""QIDO-RS query parameters (PS3.18 8.3.4) turned into ORM filters.

Supported matching: single value, wildcard (``*`` and ``?``) on text attributes, UID lists
(comma- or backslash-separated), date ranges (``20240101-20241231``, ``-20241231``,
``20240101-``). ``limit``/``offset`` page the answer; ``includefield`` is accepted (every
attribute we index is always returned) and unknown keys are ignored with a Warning header, as
the standard allows.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q
from django.http import QueryDict

from webapp.studies.models import Series

_WILDCARD = re.compile(r"[*?]")
_SPLIT = re.compile(r"[,\\]")
_RESERVED = {"limit", "offset", "includefield", "fuzzymatching"}


class QueryError(ValueError):
    """A query parameter the server cannot honour; ``str(exc)`` says which and why (answered 400)."""


@dataclass(frozen=True)
class Field:
    keyword: str
    tag: str
    match: Callable[[str, str], Q]  # (orm path, value) -> filter
    path: str


def _text(path: str, value: str, *, insensitive: bool = False) -> Q:
    if not _WILDCARD.search(value):
        return Q(**{f"{path}__iexact" if insensitive else path: value})
    if value.strip("*") == "":
        return Q()  # "*" matches everything, like an empty value
    pattern = "^" + "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in value) + "$"
    return Q(**{f"{path}__iregex" if insensitive else f"{path}__regex": pattern})


def text(path: str, value: str) -> Q:
    return _text(path, value)


def text_ci(path: str, value: str) -> Q:
    """Person names and descriptions: case-insensitive, as most archives match them."""
    return _text(path, value, insensitive=True)


def uid_list(path: str, value: str) -> Q:
    uids = [u.strip() for u in _SPLIT.split(value) if u.strip()]
    return Q(**{f"{path}__in": uids}) if uids else Q()


def code_list(path: str, value: str) -> Q:
    codes = [c.strip().upper() for c in _SPLIT.split(value) if c.strip()]
    return Q(**{f"{path}__in": codes}) if codes else Q()


def integer(path: str, value: str) -> Q:
    try:
        return Q(**{path: int(value)})
    except ValueError:
        raise QueryError(f"{value!r} is not an integer") from None


def _date(text_value: str) -> dt.date:
    try:
        return dt.datetime.strptime(text_value.strip(), "%Y%m%d").date()
    except ValueError:
        raise QueryError(f"{text_value!r} is not a date (YYYYMMDD)") from None


def date_range(path: str, value: str) -> Q:
    if "-" not in value:
        return Q(**{path: _date(value)})
    lo, hi = value.split("-", 1)
    q = Q()
    if lo.strip():
        q &= Q(**{f"{path}__gte": _date(lo)})
    if hi.strip():
        q &= Q(**{f"{path}__lte": _date(hi)})
    return q


def modalities_in_study(_path: str, value: str) -> Q:
    codes = [c.strip().upper() for c in _SPLIT.split(value) if c.strip()]
    if not codes:
        return Q()
    # EXISTS, not a join: a study with two CT series must come back once.
    return Q(Exists(Series.objects.filter(study=OuterRef("pk"), modality__in=codes)))


STUDY_FIELDS = (
    Field("StudyInstanceUID", "0020000D", uid_list, "study_instance_uid"),
    Field("PatientID", "00100020", text, "patient__patient_id"),
    Field("PatientName", "00100010", text_ci, "patient__patient_name"),
    Field("AccessionNumber", "00080050", text, "accession_number"),
    Field("StudyDate", "00080020", date_range, "study_date"),
    Field("StudyDescription", "00081030", text_ci, "study_description"),
    Field("ModalitiesInStudy", "00080061", modalities_in_study, ""),
)
SERIES_FIELDS = (
    Field("SeriesInstanceUID", "0020000E", uid_list, "series_instance_uid"),
    Field("Modality", "00080060", code_list, "modality"),
    Field("SeriesNumber", "00200011", integer, "series_number"),
    Field("SeriesDescription", "0008103E", text_ci, "series_description"),
    Field("BodyPartExamined", "00180015", text_ci, "body_part_examined"),
)
# The top-level /series and /instances searches also match the study they are in.
STUDY_OF = Field("StudyInstanceUID", "0020000D", uid_list, "study__study_instance_uid")
SERIES_OF = Field("SeriesInstanceUID", "0020000E", uid_list, "series__series_instance_uid")
INSTANCE_FIELDS = (
    Field("SOPInstanceUID", "00080018", uid_list, "sop_instance_uid"),
    Field("SOPClassUID", "00080016", uid_list, "sop_class_uid"),
    Field("InstanceNumber", "00200013", integer, "instance_number"),
)


@dataclass
class Query:
    filters: Q
    limit: int
    offset: int
    warnings: list[str] = field(default_factory=list)


def _int_param(params: QueryDict, name: str, default: int, lowest: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(f"{name}={raw!r}: expected an integer") from None
    if value < lowest:
        raise QueryError(f"{name}={raw!r}: must be at least {lowest}")
    return value


def parse(params: QueryDict, fields: tuple[Field, ...], *, max_results: int) -> Query:
    """Filters, paging and warnings for one QIDO-RS request against ``fields``."""
    by_key = {f.keyword.lower(): f for f in fields} | {f.tag.lower(): f for f in fields}
    filters = Q()
    warnings: list[str] = []
    for key in params:
        if key.lower() in _RESERVED:
            continue
        found = by_key.get(key.lower())
        if found is None:
            warnings.append(f"The query key {key} is not supported at this level and was ignored.")
            continue
        for value in params.getlist(key):
            if value == "":
                continue  # universal matching: the attribute is returned, nothing is filtered
            try:
                filters &= found.match(found.path, value)
            except QueryError as e:
                raise QueryError(f"{key}: {e}") from None
    if params.get("fuzzymatching", "").lower() == "true":
        warnings.append(
            "The fuzzymatching parameter is not supported. Only literal matching has been performed."
        )
    limit = min(_int_param(params, "limit", max_results, 1), max_results)
    offset = _int_param(params, "offset", 0, 0)
    return Query(filters, limit, offset, warnings)


def includefield_warnings(params: QueryDict, returned: set[str]) -> list[str]:
    """``includefield`` asks for attributes beyond the defaults: every attribute this index holds
    is returned already, so only those it does not hold need a word (the WADO-RS metadata of the
    series or instance has them all)."""
    from pydicom.datadict import tag_for_keyword

    missing = []
    for raw in params.getlist("includefield"):
        for name in (v.strip() for v in raw.split(",")):
            if not name or name.lower() == "all":
                continue
            tag = (
                name.upper() if len(name) == 8 and all(c in "0123456789abcdefABCDEF" for c in name) else None
            )
            if tag is None and (number := tag_for_keyword(name)) is not None:
                tag = f"{number:08X}"
            if tag not in returned:
                missing.append(name)
    if not missing:
        return []
    return [
        f"includefield {', '.join(missing)}: not held in the search index and not returned; "
        "retrieve the metadata (WADO-RS) for every attribute"
    ]
