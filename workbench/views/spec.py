"""Filter specs: ``{"label": ["Shirts", "Tshirts"], "season": "Summer", "width__gte": 60}``.

A key is a field, optionally followed by ``__`` and an operator; a bare list means ``in`` and a
bare value ``eq``. Fields are image columns or the dataset's attributes. Everything is validated
against the dataset before any SQL is built, so a typo fails with the list of valid names, and a
filter larger than the limits (``Limits.filter_*``) fails before any value is even read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.config import Limits
from workbench.errors import FilterError

# Filterable image columns and their value type.
COLUMNS: dict[str, str] = {
    "label": "str",
    "split": "str",
    "width": "int",
    "height": "int",
    "format": "str",
    "bytes": "int",
    "sha256": "str",
    "original_name": "str",
}
OPERATORS = ("eq", "in", "gt", "gte", "lt", "lte", "contains", "exists")
_ORDERED = ("gt", "gte", "lt", "lte")


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any
    kind: str  # "int" | "float" | "str"
    is_attribute: bool


def parse_spec(
    spec: dict[str, Any], attribute_types: dict[str, str], limits: Limits | None = None
) -> list[Condition]:
    if not isinstance(spec, dict):
        raise FilterError(
            f'a filter is a JSON object like {{"label": ["a", "b"]}}, not {type(spec).__name__}'
        )
    check_size(spec, limits or Limits())
    return [_parse_one(key, value, attribute_types) for key, value in spec.items()]


def check_size(spec: dict[str, Any], limits: Limits) -> None:
    """Refuse a filter over the limits, naming the limit and its setting: counting is all it
    takes, so a million values cost no more than reading the JSON they came in."""
    if len(spec) > limits.filter_max_fields:
        raise FilterError(
            f"the filter has {len(spec):,} fields, over the limit of {limits.filter_max_fields:,} "
            "(WORKBENCH_FILTER_MAX_FIELDS): drop some conditions or raise the setting"
        )
    total = 0
    for key, value in spec.items():
        count = len(value) if isinstance(value, list | tuple) else 1
        if count > limits.filter_max_values:
            raise FilterError(
                f"filter field {key!r} lists {count:,} values, over the limit of "
                f"{limits.filter_max_values:,} (WORKBENCH_FILTER_MAX_VALUES): filter on fewer "
                "values, or on a coarser attribute, or raise the setting"
            )
        total += count
    if total > limits.filter_max_total_values:
        raise FilterError(
            f"the filter lists {total:,} values in all, over the limit of "
            f"{limits.filter_max_total_values:,} (WORKBENCH_FILTER_MAX_TOTAL_VALUES): filter on "
            "fewer values or raise the setting"
        )


def valid_fields(attribute_types: dict[str, str]) -> list[str]:
    return list(COLUMNS) + sorted(k for k in attribute_types if k not in COLUMNS)


def _parse_one(key: str, value: Any, attribute_types: dict[str, str]) -> Condition:
    # A whole key that names a field is that field (an attribute may be called "pack__size");
    # otherwise the operator is what follows the last "__".
    if key in COLUMNS or key in attribute_types:
        field, op = key, ""
    else:
        field, _, op = key.rpartition("__")
        if not field:
            field, op = op, ""
    if not op:
        op = "in" if isinstance(value, list | tuple) else "eq"
    if op not in OPERATORS:
        raise FilterError(f"unknown operator {op!r} in {key!r}; operators are: {', '.join(OPERATORS)}")
    if field in COLUMNS:
        kind, is_attribute = COLUMNS[field], False
    elif field in attribute_types:
        kind, is_attribute = attribute_types[field], True
    else:
        raise FilterError(
            f"unknown filter field {field!r}; valid fields are: {', '.join(valid_fields(attribute_types))}"
        )
    return Condition(field, op, _coerce(key, op, value, kind), kind, is_attribute)


def _coerce(key: str, op: str, value: Any, kind: str) -> Any:
    if op == "exists":
        if not isinstance(value, bool):
            raise FilterError(f"{key!r} takes true or false")
        return value
    if op == "in":
        values = value if isinstance(value, list | tuple) else [value]
        if not values:
            raise FilterError(f"{key!r} needs at least one value")
        return [_scalar(key, v, kind) for v in values]
    if op == "contains":
        if kind != "str":
            raise FilterError(f"{key!r}: contains works on text fields; this one holds numbers")
        return _text(key, str(value))
    if op in _ORDERED and isinstance(value, bool):
        raise FilterError(f"{key!r} needs a number or text, not {value}")
    return _scalar(key, value, kind)


def _scalar(key: str, value: Any, kind: str) -> Any:
    if isinstance(value, dict | list | tuple) or value is None:
        raise FilterError(f"{key!r} needs a single value, not {value!r}")
    if kind == "str":
        return _text(key, str(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FilterError(f"{key!r} holds numbers; {value!r} is not one") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise FilterError(f"{key!r} needs a finite number, not {value!r}")
    # Beyond 64 bits an int cannot be bound (SQLite); as a float it still compares correctly.
    if kind == "int" and number.is_integer() and abs(number) < 2**63:
        return int(value) if isinstance(value, int) else int(number)
    return number


def _text(key: str, value: str) -> str:
    if "\x00" in value:  # Postgres text cannot hold one: the driver would raise, not answer
        raise FilterError(f"{key!r}: a value holds a NUL character, which no catalog text can hold")
    return value


_SAID = {"eq": "=", "in": "=", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "contains": "contains"}


def describe_filter(spec: dict[str, Any]) -> str:
    """A filter in words for people: ``label = 3 or 8, width ≥ 64``; "" for no filter. Written
    for display only (a key is split at its last ``__`` whatever the dataset's attributes)."""
    parts = []
    for key, value in spec.items():
        field, _, op = key.rpartition("__")
        if op not in OPERATORS or not field:
            field, op = key, "eq"
        if op == "exists":
            parts.append(f"{field} {'given' if value else 'missing'}")
            continue
        shown = " or ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        parts.append(f"{field} {_SAID[op]} {shown}")
    return ", ".join(parts)
