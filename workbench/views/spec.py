"""Filter specs: ``{"label": ["Shirts", "Tshirts"], "season": "Summer", "width__gte": 60}``.

A key is a field, optionally followed by ``__`` and an operator; a bare list means ``in`` and a
bare value ``eq``. Fields are image columns or the dataset's attributes. Everything is validated
against the dataset before any SQL is built, so a typo fails with the list of valid names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def parse_spec(spec: dict[str, Any], attribute_types: dict[str, str]) -> list[Condition]:
    if not isinstance(spec, dict):
        raise FilterError(
            f'a filter is a JSON object like {{"label": ["a", "b"]}}, not {type(spec).__name__}'
        )
    return [_parse_one(key, value, attribute_types) for key, value in spec.items()]


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
        return str(value)
    if op in _ORDERED and isinstance(value, bool):
        raise FilterError(f"{key!r} needs a number or text, not {value}")
    return _scalar(key, value, kind)


def _scalar(key: str, value: Any, kind: str) -> Any:
    if isinstance(value, dict | list | tuple) or value is None:
        raise FilterError(f"{key!r} needs a single value, not {value!r}")
    if kind == "str":
        return str(value)
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
