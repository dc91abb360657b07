"""Report parameters travel as data, never as code.

papermill pastes parameter *names* into the injected cell unchecked (a crafted name runs code)
and injects unknown names with only a log line. So: only the names the notebook declares in its
``parameters`` cell are accepted, and every value must be JSON data whose Python literal (as
papermill writes it) reads back as the same value, so a string with quotes, newlines or code in
it arrives as that string.
"""

from __future__ import annotations

import ast
import math
from functools import cache
from pathlib import Path
from typing import Any

from workbench.errors import ReportError


def declared_parameters(notebook: Path) -> dict[str, dict[str, str]]:
    """name -> {default, inferred_type_name, help}, from the notebook's ``parameters`` cell."""
    return dict(_declared(notebook, notebook.stat().st_mtime_ns))


@cache
def _declared(notebook: Path, _mtime: int) -> tuple[tuple[str, dict[str, str]], ...]:
    import papermill

    return tuple(papermill.inspect_notebook(str(notebook)).items())


def check_parameters(notebook: Path, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` when every name is declared and every value is plain data; else ReportError."""
    if not isinstance(params, dict):
        raise ReportError(f"report parameters are a JSON object, not {type(params).__name__}")
    declared = declared_parameters(notebook)
    unknown = [name for name in params if name not in declared]
    if unknown:
        valid = ", ".join(declared) or "none"
        raise ReportError(
            f"{notebook.name} has no parameter {', '.join(map(repr, unknown))}; its parameters: {valid}"
        )
    for name, value in params.items():
        _check_value(name, value)
    return dict(params)


def _check_value(name: str, value: Any) -> None:
    from papermill.translators import PythonTranslator

    _plain_data(name, value)
    literal = PythonTranslator.translate(value)
    try:
        same = ast.literal_eval(literal) == value
    except (ValueError, SyntaxError):
        same = False
    if not same:  # the injected cell would not say what was asked: refuse rather than run it
        raise ReportError(f"parameter {name!r}: {value!r} cannot be passed to a notebook safely")


def _plain_data(name: str, value: Any) -> None:
    """JSON data only: None, bool, int, finite float, str, lists and string-keyed objects of them."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ReportError(f"parameter {name!r}: {value} is not a finite number")
        return
    if isinstance(value, list):
        for item in value:
            _plain_data(name, item)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ReportError(f"parameter {name!r}: object keys must be strings, not {key!r}")
            _plain_data(name, item)
        return
    raise ReportError(f"parameter {name!r}: a {type(value).__name__} is not JSON data")
