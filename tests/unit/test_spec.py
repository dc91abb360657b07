"""Filter specs: operators, value coercion and the errors that say what to type instead."""

from __future__ import annotations

from typing import Any

import pytest

from workbench.config import Limits
from workbench.errors import FilterError
from workbench.views.spec import Condition, parse_spec, valid_fields

ATTRIBUTES = {"year": "int", "price": "float", "season": "str"}
ALL_OPERATORS = ["eq", "in", "gt", "gte", "lt", "lte", "contains", "exists"]


def _one(key: str, value: Any, attributes: dict[str, str] | None = None) -> Condition:
    conditions = parse_spec({key: value}, ATTRIBUTES if attributes is None else attributes)
    assert len(conditions) == 1
    return conditions[0]


def test_a_bare_value_means_eq_and_a_bare_list_means_in() -> None:
    assert _one("label", "Shirts") == Condition("label", "eq", "Shirts", "str", False)
    assert _one("label", ["Shirts", "Jeans"]) == Condition("label", "in", ["Shirts", "Jeans"], "str", False)
    assert _one("year", (2011, 2012)) == Condition("year", "in", [2011, 2012], "int", True)


@pytest.mark.parametrize("op", ALL_OPERATORS)
def test_every_operator_is_accepted_after_a_double_underscore(op: str) -> None:
    value: Any = {"in": ["Summer"], "exists": True}.get(op, "Summer")
    condition = _one(f"season__{op}", value)
    assert (condition.field, condition.op, condition.is_attribute) == ("season", op, True)


def test_columns_and_attributes_carry_their_kind() -> None:
    conditions = parse_spec({"width__gte": 10, "year": 2012, "price__lt": 3, "season": "Fall"}, ATTRIBUTES)
    assert [(c.field, c.kind, c.is_attribute) for c in conditions] == [
        ("width", "int", False),
        ("year", "int", True),
        ("price", "float", True),
        ("season", "str", True),
    ]


def test_a_column_wins_over_an_attribute_of_the_same_name() -> None:
    condition = _one("width", "12", {"width": "str"})
    assert (condition.kind, condition.is_attribute, condition.value) == ("int", False, 12)


@pytest.mark.parametrize(
    ("key", "given", "expected"),
    [
        ("width", "60", 60),
        ("width", 60.0, 60),
        ("width__gt", "60.5", 60.5),
        ("year__gte", "2012", 2012),
        ("price", 3, 3.0),
        ("price__lte", "9.75", 9.75),
        ("label", 3, "3"),
        ("season__contains", 42, "42"),
    ],
)
def test_values_are_coerced_to_the_kind_of_their_field(key: str, given: Any, expected: Any) -> None:
    value = _one(key, given).value
    assert value == expected
    assert type(value) is type(expected)


def test_in_coerces_every_value_and_accepts_a_single_one() -> None:
    assert _one("year__in", ["2011", 2012.0]).value == [2011, 2012]
    assert _one("label__in", "Shirts").value == ["Shirts"]


def test_exists_keeps_its_boolean() -> None:
    assert _one("season__exists", False).value is False
    assert _one("split__exists", True).value is True


def test_a_filter_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(FilterError, match=r"JSON object.*not list"):
        parse_spec(["label"], ATTRIBUTES)  # type: ignore[arg-type]


def test_an_unknown_field_lists_every_valid_field() -> None:
    with pytest.raises(FilterError, match="unknown filter field 'colour'") as error:
        parse_spec({"colour": "Red"}, ATTRIBUTES)
    listed = str(error.value).split("valid fields are: ")[1].split(", ")
    assert listed == [
        "label",
        "split",
        "width",
        "height",
        "format",
        "bytes",
        "sha256",
        "original_name",
        "price",
        "season",
        "year",
    ]


def test_an_unknown_operator_lists_every_operator() -> None:
    with pytest.raises(FilterError, match="unknown operator 'between' in 'year__between'") as error:
        parse_spec({"year__between": [2011, 2013]}, ATTRIBUTES)
    assert str(error.value).split("operators are: ")[1].split(", ") == ALL_OPERATORS


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"width__gte": "abc"}, "'width__gte' holds numbers; 'abc' is not one"),
        ({"year__in": [2011, "soon"]}, "'year__in' holds numbers; 'soon' is not one"),
        ({"width__contains": 6}, "contains works on text fields"),
        ({"price__contains": "9"}, "contains works on text fields"),
        ({"season__exists": "yes"}, "'season__exists' takes true or false"),
        ({"season__exists": 1}, "'season__exists' takes true or false"),
        ({"label__in": []}, "'label__in' needs at least one value"),
        ({"label": None}, "'label' needs a single value, not None"),
        ({"label": {"$ne": "x"}}, "'label' needs a single value"),
        ({"width__gt": [1, 2]}, "'width__gt' needs a single value"),
        ({"label__in": [["a"]]}, "'label__in' needs a single value"),
        ({"width__gte": True}, "'width__gte' needs a number or text, not True"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterError) as error:
        parse_spec(spec, ATTRIBUTES)
    assert message in str(error.value)


def test_valid_fields_are_columns_then_sorted_attributes_without_repeats() -> None:
    fields = valid_fields({"zone": "str", "label": "str", "age": "int"})
    assert fields[:8] == ["label", "split", "width", "height", "format", "bytes", "sha256", "original_name"]
    assert fields[8:] == ["age", "zone"]


def test_an_attribute_whose_name_contains_a_double_underscore_can_be_filtered() -> None:
    condition = _one("pack__size", 2, {"pack__size": "int"})
    assert (condition.field, condition.op, condition.value) == ("pack__size", "eq", 2)


# -- the size of a filter: refused before any SQL, naming the limit and its setting ------------------

SMALL = Limits(filter_max_values=3, filter_max_fields=2, filter_max_total_values=4)


def test_a_filter_at_every_limit_is_accepted() -> None:
    conditions = parse_spec({"season": ["a", "b", "c"], "year": 2011}, ATTRIBUTES, SMALL)
    assert [(c.field, c.value) for c in conditions] == [("season", ["a", "b", "c"]), ("year", 2011)]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"season": ["a", "b", "c", "d"]},
         "filter field 'season' lists 4 values, over the limit of 3 (WORKBENCH_FILTER_MAX_VALUES)"),
        ({"season": "a", "year": 1, "price": 2},
         "the filter has 3 fields, over the limit of 2 (WORKBENCH_FILTER_MAX_FIELDS)"),
        ({"season": ["a", "b", "c"], "year": [1, 2]},
         "the filter lists 5 values in all, over the limit of 4 (WORKBENCH_FILTER_MAX_TOTAL_VALUES)"),
    ],
)  # fmt: skip
def test_a_filter_over_a_limit_names_the_limit_and_its_setting(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(FilterError) as error:
        parse_spec(spec, ATTRIBUTES, SMALL)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_million_values_are_counted_not_read() -> None:
    # Values of the wrong type: the size is refused first, so none of them was even looked at.
    with pytest.raises(FilterError, match=r"'year' lists 1,000,000 values, over the limit of 100,000"):
        parse_spec({"year": [{"$where": "1"}] * 1_000_000}, ATTRIBUTES)


def test_the_default_limits_take_a_long_list() -> None:
    limits = Limits()
    (condition,) = parse_spec({"season": [str(i) for i in range(limits.filter_max_values)]}, ATTRIBUTES)
    assert len(condition.value) == limits.filter_max_values == 100_000
    assert limits.filter_max_total_values == 200_000 and limits.filter_max_fields == 64


@pytest.mark.parametrize(
    "spec", [{"label": "a\x00"}, {"season": ["ok", "\x00"]}, {"season__contains": "\x00"}]
)
def test_a_nul_character_no_catalog_text_can_hold_is_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(FilterError, match="NUL character"):
        parse_spec(spec, ATTRIBUTES)


def test_a_filter_is_described_in_words() -> None:
    from workbench.views.spec import describe_filter

    spec = {"label": ["3", "8"], "width__gte": 64, "season": "Summer", "note__exists": False}
    assert describe_filter(spec) == "label = 3 or 8, width ≥ 64, season = Summer, note missing"
    assert describe_filter({}) == ""
