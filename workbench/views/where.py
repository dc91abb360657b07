"""Conditions -> SQL with bound parameters, written to use the indexes on each dialect.

On Postgres an attribute equality is written as JSONB containment (``attributes @> '{"k": v}'``),
the only form the ``jsonb_path_ops`` GIN index serves. ``Json`` is a variant type, so the column
is coerced to JSONB first; ``column.contains(dict)`` on the variant silently compiles to LIKE.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, true, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from workbench.catalog.models import Image
from workbench.views.spec import Condition


def where_clause(
    conditions: list[Condition], dialect: str, *, attribute_index: bool = True
) -> ColumnElement[bool]:
    """``attribute_index=False`` writes attribute conditions as plain comparisons, which the GIN
    index does not serve: for when another condition already narrows the rows to a few."""
    return and_(true(), *(_condition(c, dialect, attribute_index) for c in conditions))


def _condition(c: Condition, dialect: str, attribute_index: bool) -> ColumnElement[bool]:
    if c.is_attribute:
        if dialect == "postgresql" and attribute_index:
            return _postgres_attribute(c)
        return _compare(_attribute_value(c), c)
    return _compare(getattr(Image, c.field), c)


def _postgres_attribute(c: Condition) -> ColumnElement[bool]:
    document = type_coerce(Image.attributes, JSONB)
    if c.op == "eq":
        return document.contains({c.field: c.value})
    if c.op == "in":
        return or_(*(document.contains({c.field: v}) for v in c.value))
    if c.op == "exists":
        present = document.has_key(c.field)
        return present if c.value else ~present
    return _compare(_attribute_value(c), c)


def _attribute_value(c: Condition) -> ColumnElement[Any]:
    element = Image.attributes[c.field]
    if c.kind == "int":
        return element.as_integer()
    if c.kind == "float":
        return element.as_float()
    return element.as_string()


def _compare(column: ColumnElement[Any], c: Condition) -> ColumnElement[bool]:
    match c.op:
        case "eq":
            return column == c.value
        case "in":
            # One value as '=': the planner then walks (dataset_id, label, id) in id order for a
            # first page instead of treating the list as an array to probe.
            return column == c.value[0] if len(c.value) == 1 else column.in_(c.value)
        case "gt":
            return column > c.value
        case "gte":
            return column >= c.value
        case "lt":
            return column < c.value
        case "lte":
            return column <= c.value
        case "contains":  # case-insensitive everywhere (SQLite's LIKE already is, for ASCII)
            return column.icontains(c.value, autoescape=True)
        case "exists":
            return column.is_not(None) if c.value else column.is_(None)
    return false()
