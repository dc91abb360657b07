"""A CSV of per-image attributes (the layout of a fashion catalogue's ``styles.csv``).

Each column other than the id becomes a typed attribute: a column whose every value is an integer
holds ints, likewise floats, anything else strings. Empty cells are left out, so ``exists`` means
something; so are nan and inf in a number column (JSON has no such numbers), each reported. Bad
rows are reported with their line number and skipped; they never stop the ingest.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import IngestError

_INT = re.compile(r"^[+-]?\d{1,18}$")
_MAX_CSV_BYTES = 512 * 1024 * 1024


@dataclass
class AttributeTable:
    """Rows keyed by id, the label of each, the attribute types, and what was wrong."""

    label_column: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)


def read_attributes(path: Path, label_column: str, id_column: str = "id") -> AttributeTable:
    header, records = _read_rows(Path(path))
    for column, flag in ((id_column, "--id-column"), (label_column, "--label-column")):
        if column not in header:
            raise IngestError(
                f"{Path(path).name} has no column {column!r} (set {flag}); "
                f"its columns are: {', '.join(header)}"
            )
    table = AttributeTable(label_column=label_column)
    raw: dict[str, dict[str, str]] = {}
    lines: dict[str, int] = {}
    for line, values in records:
        if len(values) != len(header):
            table.issues.append(
                {
                    "row": line,
                    "reason": f"{len(values)} fields where the header has {len(header)}; row skipped",
                }
            )
            continue
        row = dict(zip(header, (v.strip() for v in values), strict=True))
        key = row[id_column]
        if not key:
            table.issues.append({"row": line, "reason": f"empty {id_column!r}; row skipped"})
        elif key in raw:
            table.issues.append({"row": line, "reason": f"duplicate id {key!r}; the first row is kept"})
        elif not row[label_column]:
            table.issues.append({"row": line, "reason": f"empty label in {label_column!r}; row skipped"})
        else:
            raw[key], lines[key] = row, line
    table.types = {column: _infer_type(v[column] for v in raw.values()) for column in header}
    table.types.pop(label_column)
    for key, row in raw.items():
        table.labels[key] = row[label_column]
        attributes = table.rows[key] = {}
        for column, kind in table.types.items():
            if not row[column]:
                continue
            value = _convert(row[column], kind)
            if value is None:
                reason = f"{column}: {row[column]!r} is not a finite number; left out"
                table.issues.append({"row": lines[key], "reason": reason})
            else:
                attributes[column] = value
    return table


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        if path.stat().st_size > _MAX_CSV_BYTES:
            raise IngestError(f"{path.name} is larger than {_MAX_CSV_BYTES // 1024**2} MiB; split it")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise IngestError(f"cannot read the CSV {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
        if not any(header):
            raise IngestError(f"{path.name} is empty: it needs a header row naming its columns")
        if quoted := [h for h in header if '"' in h]:
            raise IngestError(f"{path.name}: rename the column {quoted[0]!r}: a column name cannot hold '\"'")
        if len(set(header)) != len(header):
            raise IngestError(f"{path.name} repeats a column name in its header: {', '.join(header)}")
        records = [(reader.line_num, values) for values in reader if values]
    except csv.Error as exc:
        raise IngestError(f"{path.name} line {reader.line_num} is not valid CSV: {exc}") from exc
    return header, records


def _infer_type(values: Any) -> str:
    kind = "int"
    for value in values:
        if not value:
            continue
        if kind == "int" and _INT.match(value):
            continue
        try:
            number = float(value)
        except ValueError:
            return "str"
        if math.isfinite(number):  # nan and inf are left out, not what makes a column float
            kind = "float"
    return kind


def _convert(value: str, kind: str) -> Any:
    """The cell as its column's type; None for nan or inf in a number column."""
    if kind == "str":
        return value
    number = int(value) if kind == "int" and _INT.match(value) else float(value)
    return number if math.isfinite(number) else None
