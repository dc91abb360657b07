"""Report parameters: only declared names, only JSON data, and strings arrive as themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from papermill.translators import PythonTranslator

from workbench.errors import ReportError
from workbench.report_params import check_parameters, declared_parameters

NOTEBOOKS = Path(__file__).parents[2] / "notebooks" / "reports"
HOSTILE = [
    'x"; import os; os.system("touch PWNED") #',
    "x'; import os; os.system('touch PWNED') #",
    '"""\nimport os\nos.system("touch PWNED")\n"""',
    "line one\nline two\r\nline three",
    "back\\slash \\\" \\' \\n not a newline",
    "{model_id}; __import__('os').system('touch PWNED')",
    "tab\tnul\x00 bell\x07 é ☃ 🦜",
]


def test_each_report_declares_its_parameters() -> None:
    declared = {name: list(declared_parameters(NOTEBOOKS / f"{name}_report.ipynb"))
                for name in ("model", "dataset", "comparison")}  # fmt: skip
    assert declared == {"model": ["model_id"], "dataset": ["dataset", "filter"], "comparison": ["model_ids"]}


@pytest.mark.parametrize(
    "name", ["x=1\nimport os; os.system('touch PWNED')#", "model_id ", "__import__('os')", "dataset"]
)
def test_an_undeclared_name_is_refused_with_the_valid_ones(name: str) -> None:
    with pytest.raises(ReportError, match=r"its parameters: model_id$"):
        check_parameters(NOTEBOOKS / "model_report.ipynb", {name: 1})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "not a finite number"),
        (float("inf"), "not a finite number"),
        ({1: "a"}, "keys must be strings"),
        (b"bytes", "not JSON data"),
        ({"a": {1, 2}}, "not JSON data"),
        (object(), "not JSON data"),
    ],
)
def test_values_must_be_json_data(value: object, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        check_parameters(NOTEBOOKS / "model_report.ipynb", {"model_id": value})


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_pass_as_the_literal_papermill_writes(text: str) -> None:
    value = {"filter": {text: [text, 1, 2.5, None, True]}}
    assert check_parameters(NOTEBOOKS / "dataset_report.ipynb", value) == value
    assert ast.literal_eval(PythonTranslator.translate(value["filter"])) == value["filter"]


def test_parameters_must_be_an_object() -> None:
    with pytest.raises(ReportError, match="a JSON object"):
        check_parameters(NOTEBOOKS / "model_report.ipynb", [1])  # type: ignore[arg-type]
