"""The audit trail as a hash chain: each row's hash covers its own content and the previous
row's hash, so changing, deleting or inserting a row anywhere breaks every later link.

``link`` is called by ``services.audit`` inside the writing transaction, with the chain's head
row locked (writers take turns; SQLite serialises writers anyway). ``verify`` walks the chain
(``manage.py verify_audit``). The chain proves that the trail was not edited partially; someone
who can rewrite the whole table can also rewrite the whole chain, which is why the verify command
prints the head hash for keeping elsewhere (a log, a ticket, a backup's label).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from webapp.accounts.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


def row_hash(event: AuditEvent, seq: int, prev_hash: str) -> str:
    """SHA-256 of the row's content in a canonical JSON form, chained to ``prev_hash``."""
    content = {
        "seq": seq,
        "prev": prev_hash,
        "actor_id": event.actor_id,
        "actor_username": event.actor_username,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "created_at": event.created_at.isoformat(timespec="microseconds"),
        "ip_address": event.ip_address or "",
        # as the database gives it back: JSON types only
        "details": json.loads(json.dumps(event.details)),
    }
    blob = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _head() -> AuditChainHead:
    head = AuditChainHead.objects.select_for_update().filter(pk=1).first()
    if head is None:
        AuditChainHead.objects.get_or_create(pk=1)
        head = AuditChainHead.objects.select_for_update().get(pk=1)
    return head


def link(event: AuditEvent) -> None:
    """Give an unsaved event its place in the chain; the caller holds a transaction and saves the
    event in it."""
    # stored as the database will give it back (the field normalises IPv6 spellings)
    event.ip_address = AuditEvent._meta.get_field("ip_address").get_prep_value(event.ip_address) or None
    head = _head()  # locked until the caller's transaction ends
    event.seq = head.seq + 1
    event.prev_hash = head.hash or GENESIS
    event.hash = row_hash(event, event.seq, event.prev_hash)
    head.seq, head.hash = event.seq, event.hash
    head.save(update_fields=["seq", "hash"])


@dataclass(frozen=True)
class Verdict:
    ok: bool
    rows: int
    head_hash: str
    problem: str = ""


def verify(batch: int = 2000) -> Verdict:
    """Walk the chain in ``seq`` order and say where, if anywhere, it breaks."""
    expected_prev, expected_seq, rows = GENESIS, 1, 0
    if AuditEvent.objects.filter(seq__isnull=True).exists():
        first = AuditEvent.objects.filter(seq__isnull=True).order_by("id").first()
        return Verdict(False, rows, "", f"audit row id {first.pk} is outside the chain (no sequence number)")
    last_seq = 0
    while True:
        chunk = list(AuditEvent.objects.filter(seq__gt=last_seq).order_by("seq")[:batch])
        if not chunk:
            break
        for event in chunk:
            if event.seq != expected_seq:
                return Verdict(
                    False,
                    rows,
                    "",
                    f"row seq {expected_seq} is missing (the next row is seq {event.seq}, id {event.pk})",
                )
            if event.prev_hash != expected_prev:
                return Verdict(
                    False, rows, "", f"row seq {event.seq} (id {event.pk}) does not follow the row before it"
                )
            if row_hash(event, event.seq, event.prev_hash) != event.hash:
                return Verdict(
                    False, rows, "", f"row seq {event.seq} (id {event.pk}) was changed after it was written"
                )
            expected_prev, expected_seq, rows = event.hash, expected_seq + 1, rows + 1
            last_seq = event.seq
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, "")
    if head_seq != rows or (rows and head_hash != expected_prev):
        return Verdict(
            False, rows, head_hash, f"the chain's head says {head_seq} rows; {rows} rows were found"
        )
    return Verdict(True, rows, expected_prev if rows else GENESIS)
