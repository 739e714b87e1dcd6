"""No index repeats the first columns of another.

Every index is written with every row it covers: a plan opened by an import was entered in 19 indexes, of
which three (its finding, its organisation, its owner alone) only repeated the first column of another
that serves the same look-ups. Such an index costs every insert and every change of its column and
saves no read, so a foreign key whose column comes first in another index is not indexed alone
(`db_index=False`, docs/BENCHMARKS.md, "Indexes that repeated another's first column").
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.apps import apps
from django.db import connection, models
from django.db.models.expressions import OrderBy
from django.test.utils import isolate_apps

from inspections.models import Organisation
from tests.factories import ActionPlanFactory, FindingFactory, OrganisationFactory, UserFactory
from tests.tracker.test_query_plans import plan_of
from tracker.models import ActionPlan

OUR_APPS = ("tracker", "inspections")


@dataclass(frozen=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool
    partial: bool
    descending: tuple[bool, ...] = ()

    def starts(self, other: Index) -> bool:
        """Whether this index's columns are the first columns of `other`, in the same order or all reversed
        (an index is read either way)."""
        n = len(self.columns)
        if other.columns[:n] != self.columns:
            return False
        mine, theirs = self.descending or (False,) * n, (other.descending or (False,) * len(other.columns))[:n]
        return mine == theirs or mine == tuple(not d for d in theirs)


def _column(model: type[models.Model], name: str) -> str:
    return model._meta.get_field(name.lstrip("-")).column


def _expression_column(model: type[models.Model], expression: object) -> tuple[str, bool]:
    """The column of an index expression that is a plain field, else the expression; and whether descending."""
    descending = isinstance(expression, OrderBy) and expression.descending
    if isinstance(expression, OrderBy):
        expression = expression.expression
    if isinstance(expression, models.F):
        return _column(model, expression.name), descending
    return f"<{expression}>", descending


def indexes_of(model: type[models.Model]) -> list[Index]:
    """Every index the model asks for: its fields' own, its Meta.indexes and its unique constraints."""
    found = [
        Index(f"{field.name} (the field's own)", (field.column,), unique=False, partial=False)
        for field in model._meta.concrete_fields
        if field.db_index and not field.unique and not field.primary_key
    ]
    for index in model._meta.indexes:
        if index.fields:
            parts = [(_column(model, name), name.startswith("-")) for name in index.fields]
        else:
            parts = [_expression_column(model, expression) for expression in index.expressions]
        columns, descending = tuple(c for c, _ in parts), tuple(d for _, d in parts)
        found.append(
            Index(index.name, columns, unique=False, partial=index.condition is not None, descending=descending)
        )
    for constraint in model._meta.constraints:
        if isinstance(constraint, models.UniqueConstraint) and constraint.fields:
            columns = tuple(_column(model, name) for name in constraint.fields)
            found.append(Index(constraint.name, columns, unique=True, partial=constraint.condition is not None))
    return found


def our_models() -> list[type[models.Model]]:
    """Our own tables: not the many-to-many tables Django makes, nor the history tables, whose indexes
    django-simple-history sets."""
    return [
        model
        for label in OUR_APPS
        for model in apps.get_app_config(label).get_models()
        if not model._meta.auto_created and not model.__name__.startswith("Historical")
    ]


def repeats(model: type[models.Model]) -> list[str]:
    """Indexes (not unique, not partial) whose columns are the first columns of another (not partial)."""
    indexes = indexes_of(model)
    return [
        f"{model.__name__}: {index.name} {index.columns} repeats the start of {other.name} {other.columns}"
        for index in indexes
        if not index.unique and not index.partial
        for other in indexes
        if other is not index and not other.partial and index.starts(other)
    ]


def test_no_index_repeats_the_first_columns_of_another():
    found = [line for model in our_models() for line in repeats(model)]
    assert found == []


@isolate_apps("tracker")
def test_the_rule_finds_a_foreign_key_indexed_alone_and_first_in_another():
    """The check above can fail: a model with a foreign key indexed alone and first in a unique pair."""

    class Pair(models.Model):
        plan = models.ForeignKey(ActionPlan, models.CASCADE, related_name="+")
        organisation = models.ForeignKey(Organisation, models.CASCADE, related_name="+")

        class Meta:
            app_label = "tracker"
            constraints = [models.UniqueConstraint(fields=["plan", "organisation"], name="pair_once")]

        def __str__(self) -> str:
            return f"{self.plan_id}, {self.organisation_id}"

    assert repeats(Pair) == [
        "Pair: plan (the field's own) ('plan_id',) repeats the start of pair_once ('plan_id', 'organisation_id')"
    ]


# --- the database has what the models say, and look-ups still find an index --------------------------


def _not_indexed_alone() -> list[tuple[type[models.Model], models.Field]]:
    return [
        (model, field)
        for model in our_models()
        for field in model._meta.concrete_fields
        if isinstance(field, models.ForeignKey) and not field.db_index and _first_in(model, field.column)
    ]


@pytest.mark.django_db
def test_the_database_has_no_index_of_those_columns_alone():
    """The migrations dropped the fields' own indexes (on either database); the indexes named in the models
    stay."""
    fields = _not_indexed_alone()
    assert {(model.__name__, field.name) for model, field in fields} >= {
        ("ActionPlan", "finding"),
        ("ActionPlan", "organisation"),
        ("ActionPlan", "owner"),
        ("ActionPlan", "superseded_by"),
        ("Update", "plan"),
        ("Finding", "inspection"),
    }
    with connection.cursor() as cursor:
        for model, field in fields:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
            alone = [
                name
                for name, details in constraints.items()
                if details["index"] and not details["unique"] and details["columns"] == [field.column]
                and name not in {index.name for index in model._meta.indexes}
            ]  # fmt: skip
            assert alone == [], f"{model.__name__}.{field.name}"
        plan_indexes = connection.introspection.get_constraints(cursor, ActionPlan._meta.db_table)
    assert plan_indexes["actionplan_superseded_idx"]["columns"] == ["superseded_by_id"]


def _first_in(model: type[models.Model], column: str) -> set[str]:
    return {index.name for index in indexes_of(model) if index.columns[0] == column}


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["finding", "organisation", "owner", "superseded_by"])
def test_plans_by_a_column_not_indexed_alone_are_still_found_through_an_index(field):
    owner = UserFactory()
    finding = FindingFactory()
    for _ in range(3):
        ActionPlanFactory(finding=finding, organisation=OrganisationFactory(), owner=owner)
    ActionPlan.objects.filter(pk=ActionPlan.objects.first().pk).update(superseded_by=FindingFactory())
    value = {"finding": finding, "organisation": ActionPlan.objects.first().organisation, "owner": owner,
             "superseded_by": ActionPlan.objects.exclude(superseded_by=None).first().superseded_by}[field]  # fmt: skip
    # As Django asks when it protects a finding from deletion, and as pages filter.
    plan = plan_of(ActionPlan.objects.filter(**{f"{field}__in": [value]}).values("pk"))
    column = ActionPlan._meta.get_field(field).column
    assert any(name in plan for name in _first_in(ActionPlan, column)), plan
