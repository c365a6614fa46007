"""Query helpers shared by the apps."""

from __future__ import annotations

from django.db.models import Count, IntegerField, Model, OuterRef, Subquery
from django.db.models.functions import Coalesce


def count_of(model: type[Model], fk: str) -> Coalesce:
    """COUNT(*) of ``model`` rows pointing at the outer row through ``fk``, as a subquery.

    Counting through joins would multiply rows (studies x members x labels) before grouping;
    a correlated subquery is evaluated only for the rows of the page being shown.
    """
    counted = (
        model.objects.filter(**{fk: OuterRef("pk")}).order_by().values(fk).annotate(n=Count("*")).values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)
