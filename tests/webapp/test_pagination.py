"""The API's paginator: a page found by ids first is the same page, with its annotations."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import F, Value
from django.db.models.functions import Concat

from tests.webapp.factories import UserFactory
from webapp.core.pagination import DeferredJoinPaginator

pytestmark = pytest.mark.django_db


def test_pages_by_ids_first_are_the_plain_pages_with_their_annotations():
    for i in range(23):
        UserFactory(username=f"user-{i % 7}-{i:02d}")
    users = (
        get_user_model()
        .objects.annotate(label=Concat(Value("@"), F("username")))
        .order_by("-username", "id")  # ties broken by id, as every paginated API list is
    )
    deferred, plain = DeferredJoinPaginator(users, 5, orphans=2), Paginator(users, 5, orphans=2)
    assert deferred.num_pages == plain.num_pages == 5  # the last page of 3 is more than the orphans
    for number in plain.page_range:
        got = list(deferred.page(number))
        assert [u.pk for u in got] == [u.pk for u in plain.page(number)]
        assert [u.label for u in got] == [f"@{u.username}" for u in got]


def test_querysets_it_cannot_defer_are_paged_plainly():
    for i in range(4):
        UserFactory(username=f"plain-{i}")
    rows = get_user_model().objects.order_by("username").values("username")
    assert [r["username"] for r in DeferredJoinPaginator(rows, 3).page(2)] == ["plain-3"]
