"""Every URL of the site has a role x endpoint permission test: the CASES tables of
test_permissions.py, test_detection_permissions.py, test_worklist_permissions.py and
test_pages.py, or, for the few endpoints tested in modules of another shape, a named test in
OTHER_TESTS below (checked to exist, so the mapping cannot go stale silently).

An endpoint is a URL pattern's view name (namespace:url_name); for DRF views it is the view name
and each HTTP method the view answers (GET /api/cohorts/ and POST /api/cohorts/ are two). An
endpoint that takes an object in its URL must also be tried on another cohort's object (a
placeholder ending in B/b: {B}, {study_B}, {wl_b}...), unless EXEMPT_FROM_OTHER_COHORT says why not,
and on an object of the users' own ({A}, {study_A}, {wl_a}...).

Not walked: Django's own admin (admin/) — a staff-only site of Django's with its own permission
checks, not FusionScreen's endpoints; static files; and DRF's format-suffix duplicates
(``\\.(?P<format>...)``, ``<drf_format_suffix:format>``), which reach the same views as the
patterns they duplicate.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from tests.webapp import test_detection_permissions as _detection
from tests.webapp import test_pacs_permissions as _pacs
from tests.webapp import test_pages as _pages
from tests.webapp import test_permissions as _api
from tests.webapp import test_worklist_permissions as _worklists

TABLES = {
    "test_permissions": _api.CASES,
    "test_detection_permissions": _detection.CASES,
    "test_worklist_permissions": _worklists.CASES,
    "test_pages": _pages.CASES,
    "test_pacs_permissions": _pacs.CASES,
}

SKIPPED_PREFIXES = (
    "admin/",  # Django's own admin site: staff-only, Django's permission checks, not our endpoints
    "static/",  # static files, should a static route ever be mounted: no views of ours
)
FORMAT_SUFFIX = re.compile(r"\(\?P<format>|<drf_format_suffix:format>")
ANY = "*"  # a non-DRF view: one endpoint whatever the method
_NOT_ENDPOINTS = frozenset({"head", "options"})

# Endpoints tested by modules of another shape: view name -> (module, test function, and the
# value of its "endpoint" parameter that names this endpoint, or None when it is not parametrized).
# (/dicomweb/studies is one view per method: QIDO-RS GETs are tested in test_dicomweb, STOW-RS
# POSTs in the tables of test_permissions.)
OTHER_TESTS: dict[str, tuple[str, str, str | None]] = {
    # Probes: open to anyone, no data (every role tried, the answer checked for patient data).
    "healthz": ("tests.webapp.test_operations", "test_healthz_answers_anyone_without_data", None),
    "readyz": (
        "tests.webapp.test_operations",
        "test_readyz_names_what_is_missing_and_shows_no_patient_data",
        None,
    ),
    "dicomweb:studies": ("tests.webapp.test_dicomweb", "test_study_search_shows_only_visible_studies", None),
    "dicomweb:series": (
        "tests.webapp.test_dicomweb",
        "test_top_level_series_and_instance_searches_show_only_visible_studies",
        None,
    ),
    "dicomweb:instances": (
        "tests.webapp.test_dicomweb",
        "test_top_level_series_and_instance_searches_show_only_visible_studies",
        None,
    ),
    **{
        f"dicomweb:{name}": ("tests.webapp.test_dicomweb", "test_permissions_per_endpoint_and_role", endpoint)
        for name, endpoint in {
            "study-series": "series",
            "study-instances": "study-instances",
            "series-instances": "instances",
            "study-metadata": "study-metadata",
            "series-metadata": "metadata",
            "instance-metadata": "instance-metadata",
            "instance": "instance",
            "frames": "frames",
            "series-retrieve": "series-retrieve",
            "instance-rendered": "instance-rendered",
            "frames-rendered": "frames-rendered",
            "instance-thumbnail": "instance-thumbnail",
            "frames-thumbnail": "frames-thumbnail",
            "series-thumbnail": "series-thumbnail",
            "study-thumbnail": "study-thumbnail",
        }.items()
    },
}

# Endpoints with an object in the URL that need no other-cohort case, and why.
EXEMPT_FROM_OTHER_COHORT = {
    # Pulling studies from a DICOM node is the admins' only, and admins see every cohort.
    "dicom-node-retrieve": "admins only, who see every cohort",
    "retrieval": "admins only, who see every cohort",
    # Model versions belong to no cohort: every role sees the same ones.
    "model-version-detail": "model versions belong to no cohort",
    "model-version-activate": "model versions belong to no cohort (admins only)",
    "detection_pages:model_version": "model versions belong to no cohort",
    "detection_pages:model_version_action": "model versions belong to no cohort (admins only)",
    # Training jobs are the admins' only, and admins see every cohort.
    "training-job-detail": "admins only, who see every cohort",
    "training-job-cancel": "admins only, who see every cohort",
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_OTHER_COHORT = re.compile(r"\{(?:\w*_)?[Bb]\}")


@dataclass(frozen=True)
class Endpoint:
    key: str  # namespace:url_name, or the route when the pattern has no name
    methods: frozenset[str]  # the DRF view's methods, or {ANY}
    takes_object: bool  # the URL has arguments (an object's id)
    route: str


def _key(view_name: str | None, route: str) -> str:
    return view_name or route


def _methods(callback) -> frozenset[str]:
    # HEAD and OPTIONS answer as GET does / describe the view: not endpoints of their own (DRF
    # adds "head" to a viewset's actions on its first request).
    actions = getattr(callback, "actions", None)
    if actions:  # a DRF viewset route
        return frozenset(actions) - _NOT_ENDPOINTS
    cls = getattr(callback, "cls", None)  # a DRF APIView
    if cls is not None:
        return frozenset(m for m in cls.http_method_names if hasattr(cls, m)) - _NOT_ENDPOINTS
    return frozenset({ANY})


def site_endpoints() -> dict[str, Endpoint]:
    found: dict[str, Endpoint] = {}

    def walk(patterns, prefix: str, namespaces: tuple[str, ...]) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if route.startswith(SKIPPED_PREFIXES) or FORMAT_SUFFIX.search(route):
                continue
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route, namespaces + ((p.namespace,) if p.namespace else ()))
                continue
            assert isinstance(p, URLPattern)
            name = ":".join((*namespaces, p.name)) if p.name else None
            key = _key(name, route)
            takes_object = bool(p.pattern.regex.groupindex)
            methods = _methods(p.callback)
            if key in found:  # the same name twice (never expected): merge
                old = found[key]
                methods |= old.methods
                takes_object |= old.takes_object
            found[key] = Endpoint(key, methods, takes_object, route)

    walk(get_resolver().url_patterns, "", ())
    return found


def _table_cases():
    """(table, case id, method, url) for every case of every table."""
    for table, cases in TABLES.items():
        for case in cases:
            yield table, case[0], case[1].lower(), case[2]


def exercised() -> tuple[dict[tuple[str, str], list[str]], set[str], list[str], set[str]]:
    """What the tables try: {(endpoint key, method): [table:case...]}, the keys tried on another
    cohort's object, the cases whose URL resolves to nothing, and the keys tried on an object of
    the users' own (a placeholder that is not another cohort's)."""
    tried: dict[tuple[str, str], list[str]] = {}
    other_cohort: set[str] = set()
    own: set[str] = set()
    broken: list[str] = []
    for table, case_id, method, url in _table_cases():
        path = _PLACEHOLDER.sub("1", url).split("?", 1)[0]
        try:
            match = resolve(path)
        except Resolver404:
            broken.append(f"{table}:{case_id} {url}")
            continue
        key = _key(match.view_name if match.url_name else None, match.route)
        tried.setdefault((key, method), []).append(f"{table}:{case_id}")
        if _OTHER_COHORT.search(url):
            other_cohort.add(key)
        if any(not _OTHER_COHORT.fullmatch(p.group(0)) for p in _PLACEHOLDER.finditer(url)):
            own.add(key)
    return tried, other_cohort, broken, own


def _parametrized_values(func, argname: str) -> list:
    values = []
    for mark in getattr(func, "pytestmark", []):
        if mark.name == "parametrize" and mark.args[0] == argname:
            values.extend(mark.args[1])
    return values


def test_the_walk_finds_the_sites_endpoints():
    endpoints = site_endpoints()
    # a sample of each kind: API router and plain routes, DICOMweb, STOW, pages, viewer
    for key in (
        "cohort-list",
        "study-map",
        "api-root",
        "dicomweb:frames",
        "dicomweb:study",
        "cohort_pages:detail",
        "viewer:item",
        "audit",
        "accounts:login",
    ):
        assert key in endpoints, key
    assert endpoints["cohort-list"].methods == {"get", "post"}
    assert not any(e.route.startswith("admin/") for e in endpoints.values())
    assert not any("format" in e.route for e in endpoints.values())


def test_other_tests_named_in_the_mapping_exist():
    endpoints = site_endpoints()
    stale = []
    for key, (module_name, function, endpoint) in OTHER_TESTS.items():
        if key not in endpoints:
            stale.append(f"{key}: no such endpoint any more")
            continue
        func = getattr(importlib.import_module(module_name), function, None)
        if not callable(func):
            stale.append(f"{key}: {module_name}.{function} does not exist")
        elif endpoint is not None and endpoint not in _parametrized_values(func, "endpoint"):
            stale.append(f"{key}: {module_name}.{function} is not parametrized with endpoint={endpoint!r}")
    assert not stale, "stale OTHER_TESTS entries:\n" + "\n".join(stale)


def test_every_table_case_reaches_an_endpoint():
    _, _, broken, _ = exercised()
    assert not broken, "cases whose URL matches no pattern:\n" + "\n".join(broken)


def test_every_endpoint_has_a_role_matrix():
    tried, _, _, _ = exercised()
    uncovered = []
    for key, endpoint in sorted(site_endpoints().items()):
        if key in OTHER_TESTS:
            continue
        for method in sorted(endpoint.methods):
            if method == ANY:
                if not any(k == key for k, _ in tried):
                    uncovered.append(f"{key}  ({endpoint.route})")
            elif (key, method) not in tried:
                uncovered.append(f"{method.upper()} {key}  ({endpoint.route})")
    assert not uncovered, (
        "endpoints without a role x endpoint case (add one to a CASES table, or name the test "
        "that covers it in OTHER_TESTS):\n" + "\n".join(uncovered)
    )


def test_every_endpoint_with_an_object_is_tried_on_another_cohorts():
    _, other_cohort, _, _ = exercised()
    missing = [
        f"{key}  ({endpoint.route})"
        for key, endpoint in sorted(site_endpoints().items())
        if endpoint.takes_object
        and key not in OTHER_TESTS  # the DICOMweb tests try cohort B's study on every endpoint
        and key not in EXEMPT_FROM_OTHER_COHORT
        and key not in other_cohort
    ]
    assert not missing, "endpoints never tried on another cohort's object:\n" + "\n".join(missing)


def test_every_endpoint_with_an_object_is_tried_on_the_users_own():
    """The other half of the pair: a 404 on another cohort's object only means something beside
    the answer on an object the user may see."""
    _, _, _, own = exercised()
    missing = [
        f"{key}  ({endpoint.route})"
        for key, endpoint in sorted(site_endpoints().items())
        if endpoint.takes_object and key not in OTHER_TESTS and key not in own
    ]
    assert not missing, "endpoints never tried on an object of the users' own:\n" + "\n".join(missing)


def test_the_exemptions_are_still_endpoints_with_objects():
    endpoints = site_endpoints()
    stale = [k for k in EXEMPT_FROM_OTHER_COHORT if k not in endpoints or not endpoints[k].takes_object]
    assert not stale, stale
