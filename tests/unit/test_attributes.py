"""The attributes CSV: typed columns, reported bad rows, refused unusable files."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import Limits
from workbench.errors import IngestError
from workbench.ingest.attributes import read_attributes


def _csv(tmp_path: Path, text: str, name: str = "styles.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_columns_are_typed_and_empty_cells_left_out(tmp_path: Path) -> None:
    table = read_attributes(_csv(tmp_path, "id,kind,year,price,note\n1,a,2012,9.5,x\n2,b,2013,10,\n"), "kind")
    assert table.types == {"id": "int", "year": "int", "price": "float", "note": "str"}
    assert table.rows["1"] == {"id": 1, "year": 2012, "price": 9.5, "note": "x"}
    assert table.rows["2"] == {"id": 2, "year": 2013, "price": 10.0}
    assert table.labels == {"1": "a", "2": "b"}


def test_nan_and_inf_in_a_number_column_are_left_out_and_reported(tmp_path: Path) -> None:
    # JSON has no nan or inf: stored, they made the dataset unreadable (SQLite) or the COPY fail.
    text = "id,kind,year,weight,note\n1,a,2012,1.5,nan\n2,b,nan,inf,x\n3,a,2014,-Infinity,y\n"
    table = read_attributes(_csv(tmp_path, text), "kind")
    assert table.types == {"id": "int", "year": "int", "weight": "float", "note": "str"}
    assert table.rows == {
        "1": {"id": 1, "year": 2012, "weight": 1.5, "note": "nan"},
        "2": {"id": 2, "note": "x"},
        "3": {"id": 3, "year": 2014, "note": "y"},
    }
    assert [(i["row"], i["reason"]) for i in table.issues] == [
        (3, "year: 'nan' is not a finite number; left out"),
        (3, "weight: 'inf' is not a finite number; left out"),
        (4, "weight: '-Infinity' is not a finite number; left out"),
    ]


def test_bad_rows_are_reported_with_their_line(tmp_path: Path) -> None:
    text = "id,kind\n1,a\n1,b\n2\n3,\n,c\n4,d,extra\n5,e\n"
    table = read_attributes(_csv(tmp_path, "\ufeff" + text, "styles_bad_rows.csv"), "kind")
    assert sorted(table.rows) == ["1", "5"]
    reasons = {issue["row"]: issue["reason"] for issue in table.issues}
    assert reasons == {
        3: "duplicate id '1'; the first row is kept",
        4: "1 fields where the header has 2; row skipped",
        5: "empty label in 'kind'; row skipped",
        6: "empty 'id'; row skipped",
        7: "3 fields where the header has 2; row skipped",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"id,kind,kind\n1,a,b\n", "repeats a column"),
        (b"id,kind\n1,caf\xe9\n", "not UTF-8"),
        (b"id,label\n1,a\n", "no column 'kind'.*id, label"),
        (b"name,kind\nx,a\n", "no column 'id'.*--id-column"),
    ],
)
def test_unusable_csv_is_refused_with_what_to_do(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "styles.csv"
    path.write_bytes(content)
    with pytest.raises(IngestError, match=message):
        read_attributes(path, "kind")


# -- what the catalog cannot hold: refused whole (the header) or the row skipped (a cell) -----------


def test_a_header_over_the_column_limit_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,kind,a,b\n1,x,2,3\n", "csv_wide.csv")
    with pytest.raises(
        IngestError, match=r"has 4 columns, over the limit of 3 \(WORKBENCH_CSV_MAX_COLUMNS\)"
    ):
        read_attributes(path, "kind", limits=Limits(csv_max_columns=3))


def test_a_header_too_long_to_be_valid_is_refused_before_it_is_split(tmp_path: Path) -> None:
    wide = _csv(tmp_path, "id,kind," + ",".join(f"c{i}" for i in range(100_000)) + "\n1,x\n", "csv_wide.csv")
    with pytest.raises(IngestError, match=r"has 100,002 columns, over the limit of 256"):
        read_attributes(wide, "kind")
    long_name = _csv(tmp_path, "id,kind," + "n" * 200_000 + "\n1,x,y\n", "csv_long_header.csv")
    with pytest.raises(IngestError, match=r"header row is longer than 131,840 characters"):
        read_attributes(long_name, "kind")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,kind," + "n" * 300, "has a name of 300 characters; the limit is 256"),
        ('id,kind,"a""b"', "a column name cannot hold"),
        ("id,kind,a\x00b", "a column name cannot hold"),
    ],
)
def test_a_column_name_the_catalog_cannot_hold_is_refused(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(IngestError, match=message):
        read_attributes(_csv(tmp_path, header + "\n1,x,y\n"), "kind")


def test_a_cell_the_catalog_cannot_hold_skips_its_row_and_the_others_are_kept(tmp_path: Path) -> None:
    # 200,000 characters: past the csv module's own 128 KiB limit, which refused the whole file.
    text = f"id,kind,note\n1,a,fine\n2,b,{'x' * 200_000}\n3,c,nul\x00\n4,{'L' * 257},x\n5,e,{'y' * 1000}\n"
    table = read_attributes(_csv(tmp_path, text, "csv_bad_cells.csv"), "kind")
    assert sorted(table.rows) == ["1", "5"]
    assert [(i["row"], i["reason"]) for i in table.issues] == [
        (
            3,
            "note: a cell of 200,000 characters, over the limit of 65,536 "
            "(WORKBENCH_CSV_MAX_CELL_CHARS); row skipped",
        ),
        (4, "note: a NUL character, which no catalog text can hold; row skipped"),
        (5, "a label of 257 characters in 'kind', over the limit of 256; row skipped"),
    ]
    small = read_attributes(
        _csv(tmp_path, text, "csv_bad_cells.csv"), "kind", limits=Limits(csv_max_cell_chars=999)
    )
    assert sorted(small.rows) == ["1"]
