"""Signals the worklists app sends, so other apps can react without worklists knowing them."""

from django.dispatch import Signal

# Sent inside the transaction that records a read (or an amendment); receivers that queue work
# should do it on commit. sender: Read; kwargs: read_id
read_recorded = Signal()
