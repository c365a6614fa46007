"""Results hidden from a user on some studies, decided by apps above detection.

Worklists register the studies of blinded worklists a reader has not read yet: until their read
is in, the study's score, call, maps, findings and DICOM objects are not theirs to see, by any
door (the viewer, the result API, the results list, the cohort page). Detection cannot import
worklists (layers one way), so they register a provider here at start-up.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

UserLike = AbstractBaseUser | AnonymousUser | None
# user -> a values("study_id")-like queryset of the studies whose results it may not see yet
HiddenStudies = Callable[[UserLike], QuerySet]

_providers: list[tuple[HiddenStudies, str]] = []


def register_hidden_studies(provider: HiddenStudies, reason: str) -> None:
    """Hide results on the provider's studies from a user, with ``reason`` as the answer."""
    if all(p is not provider for p, _ in _providers):
        _providers.append((provider, reason))


def hidden_from(user: UserLike) -> list[QuerySet]:
    """Querysets of study ids whose results are hidden from the user (empty: none are)."""
    return [provider(user) for provider, _ in _providers]


def why_hidden(user: UserLike, study_id: int) -> str | None:
    """Why the study's results are hidden from the user, or None when they are not."""
    for provider, reason in _providers:
        if provider(user).filter(study_id=study_id).exists():
            return reason
    return None
