"""A CSV of per-image attributes (the layout of a fashion catalogue's ``styles.csv``).

Each column other than the id becomes a typed attribute: a column whose every value is an integer
holds ints, likewise floats, anything else strings. Empty cells are left out, so ``exists`` means
something; so are nan and inf in a number column (JSON has no such numbers), each reported. Bad
rows (a cell over ``Limits.csv_max_cell_chars``, a NUL character, a label longer than the catalog
holds) are reported with their line number and skipped; they never stop the ingest. A header the
catalog cannot take (over ``Limits.csv_max_columns`` columns, a column name too long) refuses the
file, and is measured before it is split into columns.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import LABEL_LENGTH, NAME_LENGTH, Limits
from workbench.errors import IngestError

_INT = re.compile(r"^[+-]?\d{1,18}$")
_MAX_CSV_BYTES = 512 * 1024 * 1024
_LISTED_COLUMNS = 20  # column names an error message lists
# Lines as io.StringIO(newline="") splits them, one at a time: a StringIO holds the whole text
# four bytes a character, which for a 50 MB cell was the largest part of the memory.
_LINES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


@dataclass
class AttributeTable:
    """Rows keyed by id, the label of each, the attribute types, and what was wrong."""

    label_column: str
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)
    issues: list[dict[str, Any]] = field(default_factory=list)


def read_attributes(
    path: Path, label_column: str, id_column: str = "id", limits: Limits | None = None
) -> AttributeTable:
    limits = limits or Limits()
    header, records = _read_rows(Path(path), limits)
    for column, flag in ((id_column, "--id-column"), (label_column, "--label-column")):
        if column not in header:
            raise IngestError(
                f"{Path(path).name} has no column {column!r} (set {flag}); "
                f"its columns are: {_listing(header)}"
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
        if problem := _bad_cell(header, values, limits):
            table.issues.append({"row": line, "reason": f"{problem}; row skipped"})
            continue
        row = dict(zip(header, (v.strip() for v in values), strict=True))
        key = row[id_column]
        if not key:
            table.issues.append({"row": line, "reason": f"empty {id_column!r}; row skipped"})
        elif key in raw:
            table.issues.append({"row": line, "reason": f"duplicate id {key!r}; the first row is kept"})
        elif not row[label_column]:
            table.issues.append({"row": line, "reason": f"empty label in {label_column!r}; row skipped"})
        elif len(row[label_column]) > LABEL_LENGTH:
            reason = (
                f"a label of {len(row[label_column]):,} characters in {label_column!r}, over the "
                f"limit of {LABEL_LENGTH}; row skipped"
            )
            table.issues.append({"row": line, "reason": reason})
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


def _read_rows(path: Path, limits: Limits) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        if path.stat().st_size > _MAX_CSV_BYTES:
            raise IngestError(f"{path.name} is larger than {_MAX_CSV_BYTES // 1024**2} MiB; split it")
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise IngestError(f"cannot read the CSV {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path.name} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from exc
    header = _read_header(path, text, limits)
    # Cells are measured row by row below, so a long one skips its row; the csv module's own
    # limit (128 KiB, process-wide) would end the whole file at the first. None can outgrow it.
    csv.field_size_limit(max(csv.field_size_limit(), _MAX_CSV_BYTES))
    reader = csv.reader(m.group() for m in _LINES.finditer(text))
    try:
        next(reader)  # the header, read above
        records = [(reader.line_num, values) for values in reader if values]
    except csv.Error as exc:
        raise IngestError(f"{path.name} line {reader.line_num} is not valid CSV: {exc}") from exc
    return header, records


def _read_header(path: Path, text: str, limits: Limits) -> list[str]:
    """The column names, refused whole when the catalog cannot take them. Its length is
    checked before it is split: a 50 MB header line once took 25 s and 1.46 GB to read."""
    longest = limits.csv_max_columns * (2 * NAME_LENGTH + 3)  # every name quoted, every quote doubled
    end = _header_end(text, longest)
    if end < 0:
        first_line = text.find("\n")
        _check_columns(path, text.count(",", 0, first_line if first_line >= 0 else len(text)) + 1, limits)
        raise IngestError(
            f"{path.name}'s header row is longer than {longest:,} characters: a CSV has at most "
            f"{limits.csv_max_columns:,} columns (WORKBENCH_CSV_MAX_COLUMNS) with names of at most "
            f"{NAME_LENGTH} characters"
        )
    try:
        header = [h.strip() for h in next(csv.reader(io.StringIO(text[:end], newline="")), [])]
    except csv.Error as exc:
        raise IngestError(f"{path.name}'s header row is not valid CSV: {exc}") from exc
    if not any(header):
        raise IngestError(f"{path.name} is empty: it needs a header row naming its columns")
    _check_columns(path, len(header), limits)
    for name in header:
        if len(name) > NAME_LENGTH:
            raise IngestError(
                f"{path.name}: the column {name[:40]!r}... has a name of {len(name):,} characters; "
                f"the limit is {NAME_LENGTH}: rename it"
            )
        if '"' in name or "\x00" in name:
            raise IngestError(
                f"{path.name}: rename the column {name!r}: a column name cannot hold '\"' or NUL"
            )
    if len(set(header)) != len(header):
        raise IngestError(f"{path.name} repeats a column name in its header: {_listing(header)}")
    return header


def _header_end(text: str, longest: int) -> int:
    """Where the header row ends (the first newline outside quotes), or -1 when it is longer
    than ``longest`` characters. String searches only: nothing is split or copied."""
    at, quotes = 0, 0
    while (newline := text.find("\n", at, longest + 1)) >= 0:
        quotes += text.count('"', at, newline)
        if quotes % 2 == 0:  # a doubled quote inside a quoted name keeps the count's parity
            return newline
        at = newline + 1
    return len(text) if len(text) <= longest else -1


def _check_columns(path: Path, columns: int, limits: Limits) -> None:
    if columns > limits.csv_max_columns:
        raise IngestError(
            f"{path.name} has {columns:,} columns, over the limit of {limits.csv_max_columns:,} "
            "(WORKBENCH_CSV_MAX_COLUMNS): keep the columns you need, or raise the setting"
        )


def _bad_cell(header: list[str], values: list[str], limits: Limits) -> str | None:
    """Why this row's cells cannot be stored (too long, a NUL Postgres text cannot hold), or None."""
    for column, value in zip(header, values, strict=True):
        if len(value) > limits.csv_max_cell_chars:
            return (
                f"{column}: a cell of {len(value):,} characters, over the limit of "
                f"{limits.csv_max_cell_chars:,} (WORKBENCH_CSV_MAX_CELL_CHARS)"
            )
        if "\x00" in value:
            return f"{column}: a NUL character, which no catalog text can hold"
    return None


def _listing(header: list[str]) -> str:
    shown = ", ".join(header[:_LISTED_COLUMNS])
    return shown + (f" and {len(header) - _LISTED_COLUMNS:,} more" if len(header) > _LISTED_COLUMNS else "")


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
