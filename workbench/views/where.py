"""Conditions -> SQL with bound parameters, written to use the indexes on each dialect.

On Postgres an attribute equality is written as JSONB containment (``attributes @> '{"k": v}'``),
the only form the ``jsonb_path_ops`` GIN index serves. ``Json`` is a variant type, so the column
is coerced to JSONB first; ``column.contains(dict)`` on the variant silently compiles to LIKE.

An ``in`` list travels as ONE array parameter whatever its length, never as a clause or a bound
variable per value: a million values once became a million OR-ed containments and a 16 GB
Postgres backend (decision #40). Up to ``INDEXED_IN_VALUES`` values, Postgres checks them against
the GIN index (``@> ANY(array)``); beyond, each row's value is looked up in the array by hash
(``attributes ->> 'k' = ANY(:array)``), since the index then costs a probe per value and a
recheck of every value per matching row. SQLite reads a long list from one JSON text
(``json_each``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Numeric,
    String,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    false,
    func,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from workbench.catalog.models import Image
from workbench.views.spec import Condition

# Longer ``in`` lists are answered without the GIN index on Postgres, and from one JSON parameter
# on SQLite (shorter ones keep IN (...), which the planners know best). Measured in decision #40.
INDEXED_IN_VALUES = 100
_CASTS = {"int": Integer, "float": Float, "str": String}


def where_clause(
    conditions: list[Condition], dialect: str, *, attribute_index: bool = True
) -> ColumnElement[bool]:
    """``attribute_index=False`` writes attribute conditions as plain comparisons, which the GIN
    index does not serve: for when another condition already narrows the rows to a few."""
    return and_(true(), *(_condition(c, dialect, attribute_index) for c in conditions))


def attribute_value(field: str, kind: str, dialect: str) -> ColumnElement[Any]:
    """One attribute of each image as an SQL value of its kind (NULL where it is absent)."""
    if dialect == "sqlite" and not _plain_json_key(field):
        # SQLite matches a JSON path's key against the key as escaped in the stored text, so a
        # key with a backslash (``back\\``) matched nothing; json_each compares decoded keys.
        pairs = func.json_each(Image.attributes).table_valued("key", "value")
        found = select(pairs.c.value).where(pairs.c.key == field).scalar_subquery()
        return cast(found, _CASTS[kind]())
    element = Image.attributes[field]
    if kind == "int":
        return element.as_integer()
    if kind == "float":
        return element.as_float()
    return element.as_string()


def _plain_json_key(key: str) -> bool:
    """True when a key is stored in JSON text as it is (nothing escaped)."""
    return not any(char in '"\\' or char < " " for char in key)


def _condition(c: Condition, dialect: str, attribute_index: bool) -> ColumnElement[bool]:
    if not c.is_attribute:
        return _compare(getattr(Image, c.field), c, dialect)
    if dialect == "postgresql":
        return _postgres_attribute(c, attribute_index)
    return _compare(attribute_value(c.field, c.kind, dialect), c, dialect)


def _postgres_attribute(c: Condition, attribute_index: bool) -> ColumnElement[bool]:
    document = type_coerce(Image.attributes, JSONB)
    if attribute_index and c.op == "in" and len(c.value) <= INDEXED_IN_VALUES:
        documents = cast(bindparam(None, [{c.field: v} for v in c.value], type_=ARRAY(JSONB)), ARRAY(JSONB))
        return document.op("@>")(any_(documents))
    if c.op == "in" and len(c.value) > INDEXED_IN_VALUES:
        # As text or as a number, so the list is one array constant Postgres looks rows up in by
        # hash (as JSONB[] it took six times the server's memory).
        text = Image.attributes[c.field].as_string()
        return _in(text if c.kind == "str" else cast(text, Numeric), c.value, c.kind, "postgresql")
    if attribute_index and c.op == "eq":
        return document.contains({c.field: c.value})
    if attribute_index and c.op == "exists":
        present = document.has_key(c.field)
        return present if c.value else ~present
    return _compare(attribute_value(c.field, c.kind, "postgresql"), c, "postgresql")


def _compare(column: ColumnElement[Any], c: Condition, dialect: str) -> ColumnElement[bool]:
    match c.op:
        case "eq":
            return column == c.value
        case "in":
            return _in(column, c.value, c.kind, dialect)
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


def _in(column: ColumnElement[Any], values: list[Any], kind: str, dialect: str) -> ColumnElement[bool]:
    if len(values) == 1:
        # One value as '=': the planner then walks (dataset_id, label, id) in id order for a
        # first page instead of treating the list as an array to probe.
        return column == values[0]
    if len(values) <= INDEXED_IN_VALUES:
        return column.in_(values)
    if dialect == "postgresql":
        # One array literal, not a join against the values: on a table not yet analysed the
        # planner took a join for a nested loop over every value (10 s for 1,000 rows).
        array = ARRAY(Text if kind == "str" else Numeric)
        return column == any_(cast(bindparam(None, _postgres_array(values), type_=Text()), array))
    rows = func.json_each(bindparam(None, json.dumps(values), type_=Text())).table_valued("value")
    return column.in_(select(rows.c.value))  # SQLite builds an index of the list once


def _postgres_array(values: list[Any]) -> str:
    """Values as Postgres array text, ``{"a","b \\"quoted\\""}``: every element quoted."""
    quoted = (str(v).replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"
