"""The audit trail is tamper-evident (issue 12, finding 7): every row is a link of a hash chain
and ``manage.py verify_audit`` finds a changed, deleted or inserted row."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tests.webapp.factories import UserFactory
from webapp.accounts import roles
from webapp.accounts.models import AuditEvent
from webapp.accounts.services import audit

pytestmark = pytest.mark.django_db


@pytest.fixture
def trail():
    user = UserFactory(username="auditor", role=roles.ADMIN)
    for i in range(5):
        audit(user, "test.event", object_type="x", object_id=i, details={"n": i, "why": "test", "ok": True})
    audit(None, "auth.login_failed", details={"username": "ghost"}, ip_address="2001:db8::1")
    return list(AuditEvent.objects.order_by("seq"))


def _verify() -> str:
    from io import StringIO

    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


def test_an_untouched_trail_verifies(trail):
    assert [e.seq for e in trail] == list(range(1, len(trail) + 1))
    assert all(b.prev_hash == a.hash for a, b in zip(trail, trail[1:]))
    assert f"intact: {len(trail)} rows, head {trail[-1].hash}" in _verify()


def test_a_changed_row_is_found(trail):
    row = trail[-3]
    AuditEvent.objects.filter(pk=row.pk).update(details={"n": 99, "why": "test", "ok": True})
    with pytest.raises(CommandError, match=f"row seq {row.seq} \\(id {row.pk}\\) was changed"):
        _verify()


def test_a_changed_actor_is_found(trail):
    row = trail[-4]
    AuditEvent.objects.filter(pk=row.pk).update(actor_username="someone-else")
    with pytest.raises(CommandError, match=f"row seq {row.seq} .* was changed"):
        _verify()


def test_a_deleted_row_is_found(trail):
    AuditEvent.objects.filter(pk=trail[-2].pk).delete()
    with pytest.raises(CommandError, match=f"row seq {trail[-2].seq} is missing"):
        _verify()


def test_a_deleted_last_row_is_found(trail):
    AuditEvent.objects.filter(pk=trail[-1].pk).delete()
    n = len(trail)
    with pytest.raises(CommandError, match=f"the chain's head says {n} rows; {n - 1} rows were found"):
        _verify()


def test_a_row_inserted_outside_the_chain_is_found(trail):
    forged = AuditEvent.objects.create(action="test.forged")
    with pytest.raises(CommandError, match=f"audit row id {forged.pk} is outside the chain"):
        _verify()
