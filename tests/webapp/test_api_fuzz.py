"""Issue 12, finding 13: the API fuzzed from its own OpenAPI schema (schemathesis).

Every operation of `/api/schema/` (read from the live site itself) gets generated requests,
valid and invalid by the schema, sent over loopback to the live site as an admin, a coordinator
and a radiologist, each with a real API token, and anonymously. Whatever is sent, no answer is
a 5xx. Two passes: path ids pinned to objects that exist (cohort, study, model version,
detection job, calibration, worklist, worklist item), so requests reach the code behind the
lookup, and free ids (invalid data only).

Bounded: ``FUZZ_EXAMPLES`` cases per operation and mode (default 6), derandomised so that a
failure reproduces; `FUZZ_EXAMPLES=100 pytest tests/webapp/test_api_fuzz.py` fuzzes harder.
The token-revocation operations are left to tests/webapp/test_api_tokens.py: fuzzing them
would end the tokens the run signs in with.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "6"))
REVOKING = ("/api/auth/token/revoke/", "/api/auth/token/revoke-all/")


def fuzz_operation(operation, mode: GenerationMode, call, path_parameters: dict | None) -> None:
    """Hypothesis over one operation's generated cases (derandomised, bounded)."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case) -> None:
        call(case)

    run()


def existing_ids(world, reading) -> dict[str, int]:
    """Path prefix -> the id of an object there that exists."""
    from webapp.detection.models import DetectionJob

    job = DetectionJob.objects.filter(study=world.study_a).order_by("pk").first()  # its result's job
    return {
        "/api/cohorts/": world.cohort_a.pk,
        "/api/studies/": world.study_a.pk,
        "/api/model-versions/": reading.version.pk,
        "/api/jobs/": job.pk,
        "/api/calibrations/": reading.calibration.pk,
        "/api/worklists/": reading.worklist_a.pk,
        "/api/worklist-items/": reading.items_a[0].pk,
    }


def test_no_generated_request_gets_a_server_error(live_server, world):
    from knox.models import AuthToken

    from tests.webapp.reading import make_reading

    reading = make_reading(world)
    ids = existing_ids(world, reading)
    tokens = [
        AuthToken.objects.create(user=u)[1] for u in (world.admin, world.coordinator, world.radiologist)
    ]
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/?format=json")

    def call(case) -> None:
        for headers in [{"Authorization": f"Token {t}"} for t in tokens] + [{}]:
            response = case.call(base_url=live_server.url, headers=headers)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}\n"
                f"{case.as_curl_command(headers=headers)}\n{response.text[:2000]}"
            )

    failures, fuzzed = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in REVOKING:
            continue
        fuzzed += 1
        passes: list[tuple[GenerationMode, dict | None]] = []
        pinned = next((pk for prefix, pk in ids.items() if operation.path.startswith(prefix + "{id}")), None)
        if pinned is not None:
            passes += [(GenerationMode.POSITIVE, {"id": pinned}), (GenerationMode.NEGATIVE, {"id": pinned})]
        else:
            passes.append((GenerationMode.POSITIVE, None))
        passes.append((GenerationMode.NEGATIVE, None))
        for mode, path_parameters in passes:
            try:
                fuzz_operation(operation, mode, call, path_parameters)
            except Unsatisfiable:  # with the id pinned, nothing else of it can be made invalid
                continue
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"{operation.label} ({mode.value}, ids {path_parameters}): {exc}")
    assert fuzzed >= 30, fuzzed  # the schema was read whole
    assert not failures, "\n\n".join(failures)
