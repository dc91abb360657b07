"""Hostile input (issue 15) through the real ``workbench`` command and the Python API, on SQLite
and on the real Postgres.

A refusal is exit 2 and one stderr line saying what was wrong (a WorkbenchError from Python);
what the catalog already held is all still there, and the database keeps serving. A bad CSV cell
or a link in a zip is no refusal: its row or file is skipped and reported, the rest ingested.
"""

from __future__ import annotations

import csv
import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text

from tests import builders, services
from workbench.api import Workbench
from workbench.catalog.models import Model
from workbench.config import Limits, Settings
from workbench.errors import CatalogError, FilterError

MILLION = 1_000_000
TOO_BIG_ID = str(2**63)  # one past the largest 64-bit id
NO_MODEL = [f"no model {TOO_BIG_ID}", "model ids run from 1 to 2**63-1"]
FIFTY_MB = 50 * 1024 * 1024
CLASSES = ["Jeans", "Shirts", "Tshirts"]
# The default limits (Limits.filter_max_values, .filter_max_total_values), and views.where's
# INDEXED_IN_VALUES: the longest list still written as IN (...).
MAX_VALUES, MAX_TOTAL_VALUES, SHORT_LIST = 100_000, 200_000, 100


@pytest.fixture
def fashion(workbench: Workbench, tmp_path: Path) -> Path:
    """The 12-image catalogue ingested as ``fashion``; its images folder."""
    images, styles = builders.fashion_catalogue(tmp_path / "fashion", n=12)
    workbench.ingest(images, "fashion", labels_csv=styles, label_column="articleType")
    return images


def _tiny_model(workbench: Workbench, tmp_path: Path) -> int:
    """A model row whose export is a real (tiny) ONNX model: predicting works, no training needed."""
    export = builders.onnx_export(tmp_path / "tiny-model" / "export", CLASSES)
    with workbench.catalog.transaction() as session:
        row = Model(
            owner=workbench.catalog.user, name="tiny", arch="tiny", classes=CLASSES, image_size=8,
            export_dir=str(export),
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The error line of a refused command, after checking it is exit 2, one line, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), done.stderr[-2000:]
    assert len(lines[0]) < 1000, f"a one-line error of {len(lines[0]):,} characters"
    return lines[0]


# -- refused: exit 2 and one line ---------------------------------------------------------------

# Each case: (the test's workbench, tmp_path, the fashion images) -> (command line, variables).
Make = Callable[[Workbench, Path, Path], tuple[list[str], dict[str, str]]]


def _million_value_filter(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
    spec = tmp / "million_values.json"  # a command line holds at most 128 KiB of one argument
    spec.write_text(json.dumps({"productDisplayName": [f"v{i}" for i in range(MILLION)]}))
    return ["show", "fashion", "--filter", str(spec)], {}


def _nul_in_a_filter_value(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
    return ["show", "fashion", "--filter", '{"label": "Shirts\\u0000"}'], {}


def _dataset_name_10000_chars(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
    return ["ingest", str(images), "--name", "n" * 10_000], {}


def _user_200_chars(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
    return ["datasets"], {"WORKBENCH_USER": "u" * 200}


def _model_id(*command: str) -> Make:
    def make(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
        photo = tmp / "photo.png"
        photo.write_bytes(builders.image_bytes(1))
        return [part.format(photo=photo, out=tmp / "out") for part in command], {}

    return make


def _pixel_bomb(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
    model_id = _tiny_model(bench, tmp)
    bomb = builders.pixel_bomb_png(tmp / "pixel_bomb.png")  # claims 20000x20000 in 1 KB
    return ["predict", str(model_id), str(bomb)], {}


def _csv(name: str, build: Callable[[Path], Path]) -> Make:
    def make(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
        styles = build(tmp / name)
        return ["ingest", str(images), "--name", "wide", "--labels-csv", str(styles),
                "--label-column", "articleType"], {}  # fmt: skip

    return make


def _symlinks_only_zip(bench: Workbench, tmp: Path, images: Path) -> tuple[list[str], dict[str, str]]:
    archive = builders.symlink_zip(tmp / "symlinks_only.zip", {}, {"cats/shadow.png": "/etc/shadow"})
    return ["ingest", str(archive), "--name", "links"], {}


slow = pytest.mark.slow
REFUSED: list[tuple[str, Make, list[str]]] = [
    ("million_value_filter", _million_value_filter,
     ["'productDisplayName' lists 1,000,000 values", "limit of 100,000", "WORKBENCH_FILTER_MAX_VALUES"]),
    ("nul_in_a_filter_value", _nul_in_a_filter_value, ["'label'", "NUL character"]),
    ("dataset_name_10000_chars", _dataset_name_10000_chars, ["name is 10,000 characters", "limit is 256"]),
    ("user_200_chars", _user_200_chars, ["WORKBENCH_USER is 200 characters", "limit is 128"]),
    ("model_id_2_63_predict", _model_id("predict", TOO_BIG_ID, "{photo}"), NO_MODEL),
    ("model_id_2_63_export", _model_id("export", TOO_BIG_ID, "--out", "{out}"), NO_MODEL),
    ("model_id_2_63_publish", _model_id("models", "--publish", TOO_BIG_ID), NO_MODEL),
    ("model_id_2_63_delete", _model_id("models", "--delete", TOO_BIG_ID), NO_MODEL),
    ("show_limit_negative", lambda b, t, i: (["show", "fashion", "--limit", "-1"], {}),
     ["a page number and a page size are 0 or more"]),
    ("model_id_2_63_compare", _model_id("compare", TOO_BIG_ID), NO_MODEL),
    ("pixel_bomb.png", _pixel_bomb,
     ["pixel_bomb.png is refused as a decompression bomb", "400000000 pixels"]),
    ("csv_million_columns", _csv("csv_million_columns.csv", builders.csv_million_columns),
     ["has 1,000,000 columns", "limit of 256 (WORKBENCH_CSV_MAX_COLUMNS)"]),
    ("csv_50mb_header", _csv("csv_50mb_header.csv", builders.csv_50mb_header),
     ["columns, over the limit of 256 (WORKBENCH_CSV_MAX_COLUMNS)"]),
    ("symlinks_only.zip", _symlinks_only_zip,
     ["no image could be ingested into 'links'", "cats/shadow.png: symbolic link (not followed)"]),
]  # fmt: skip
SLOW_CASES = {"csv_50mb_header"}


@pytest.mark.parametrize(
    ("make", "expected"),
    [pytest.param(make, expected, id=case, marks=[slow] if case in SLOW_CASES else [])
     for case, make, expected in REFUSED],
)  # fmt: skip
def test_hostile_input_is_refused_in_one_line_and_loses_nothing(
    workbench: Workbench, fashion: Path, tmp_path: Path, make: Make, expected: list[str]
) -> None:
    args, env = make(workbench, tmp_path, fashion)
    line = _one_line(services.cli(workbench.settings, *args, env=env))
    for fragment in expected:
        assert fragment in line
    # Nothing lost, nothing half-made, and the catalog answers as before.
    assert [d.name for d in workbench.datasets()] == ["fashion"]
    assert workbench.dataset("fashion").count() == 12


def test_a_page_past_64_bits_is_every_image(workbench: Workbench, fashion: Path) -> None:
    done = services.cli(workbench.settings, "show", "fashion", "--limit", str(2**64), "--json")
    assert done.returncode == 0, done.stderr[-2000:]  # SQLite raised OverflowError binding the LIMIT
    assert len(json.loads(done.stdout)["images"]) == 12


# -- skipped and reported: exit 0, the rest ingested ----------------------------------------------


def _styles_with(path: Path, last: dict[str, str]) -> Path:
    """id, articleType and notes for the 12 fashion images; the last row gets ``last``'s cells."""
    rows = [{"id": str(1000 + i), "articleType": CLASSES[i % 3], "notes": "fine"} for i in range(12)]
    rows[-1].update(last)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["id", "articleType", "notes"])
        writer.writeheader()
        writer.writerows(rows)
    return path


BAD_ROWS: list[tuple[str, Callable[[Path], Path], str]] = [
    ("csv_50mb_cell", lambda p: builders.csv_50mb_cell(p, list(range(1000, 1012)), chars=FIFTY_MB),
     "notes: a cell of 52,428,800 characters, over the limit of 65,536 (WORKBENCH_CSV_MAX_CELL_CHARS); "
     "row skipped"),
    ("csv_nul_cell", lambda p: _styles_with(p, {"notes": "nul\x00here"}),
     "notes: a NUL character, which no catalog text can hold; row skipped"),
    ("csv_300_char_label", lambda p: _styles_with(p, {"articleType": "L" * 300}),
     "a label of 300 characters in 'articleType', over the limit of 256; row skipped"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "reason"),
    [pytest.param(build, reason, id=case, marks=[slow] if "50mb" in case else [])
     for case, build, reason in BAD_ROWS],
)  # fmt: skip
def test_a_bad_csv_cell_skips_its_row_with_the_reason(
    workbench: Workbench, tmp_path: Path, build: Callable[[Path], Path], reason: str
) -> None:
    images, _ = builders.fashion_catalogue(tmp_path / "fashion", n=12)
    styles = build(tmp_path / "styles.csv")
    done = services.cli(workbench.settings, "ingest", str(images), "--name", "notes", "--labels-csv",
                        str(styles), "--label-column", "articleType", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["ingested"] == 11
    assert report["csv_issues"] == [{"row": 13, "reason": reason}]
    assert report["skipped"] == [{"file": "1011.jpg", "reason": "no row in the CSV for id '1011'"}]
    assert workbench.dataset("notes").count() == 11


def test_links_and_overlong_label_folders_in_a_zip_are_listed_as_skipped(
    workbench: Workbench, tmp_path: Path
) -> None:
    archive = builders.symlink_zip(
        tmp_path / "links.zip",
        {"cats/a.png": builders.image_bytes(1), f"{'L' * 300}/b.png": builders.image_bytes(2)},
        {"cats/shadow.png": "/etc/shadow", "dogs": "/etc"},
    )
    done = services.cli(workbench.settings, "ingest", str(archive), "--name", "links", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["ingested"] == 1
    assert sorted((s["file"], s["reason"]) for s in report["skipped"]) == [
        (f"{'L' * 300}/b.png", "a label folder name of 300 characters; the limit is 256"),
        ("cats/shadow.png", "symbolic link (not followed)"),
        ("dogs", "symbolic link (not followed)"),
    ]


# -- filters: limits, one array parameter -----------------------------------------------------------


@pytest.fixture
def statements(workbench: Workbench) -> list[tuple[int, int]]:
    """(length, parameters) of every statement the workbench sends; one built from a value per
    list item fails the test before it reaches the server (a million once took Postgres down)."""
    sent: list[tuple[int, int]] = []

    def guard(_conn: object, _cursor: object, statement: str, parameters: object, *_: object) -> None:
        size = len(parameters) if isinstance(parameters, dict | list | tuple) else 0
        sent.append((len(statement), size))
        short = len(statement) < 20_000 and size <= SHORT_LIST + 10  # a short list may be IN (...)
        assert short, f"{len(statement):,} characters, {size:,} parameters"

    event.listen(workbench.catalog.engine, "before_cursor_execute", guard)
    yield sent
    event.remove(workbench.catalog.engine, "before_cursor_execute", guard)


def test_a_million_value_filter_is_refused_while_the_database_keeps_serving(
    workbench: Workbench, fashion: Path, settings: Settings, backend: str, statements: list[tuple[int, int]]
) -> None:
    refused: list[str] = []

    def filter_a_million() -> None:
        try:
            workbench.dataset("fashion").filter(productDisplayName=[f"v{i}" for i in range(MILLION)])
        except FilterError as error:
            refused.append(str(error))

    other = Workbench(settings)  # another session, on its own connections
    try:
        refusing = threading.Thread(target=filter_a_million)
        refusing.start()
        answers = 0
        while refusing.is_alive() or answers == 0:
            assert other.dataset("fashion").filter(label="Jeans").count() == 4
            answers += 1
        refusing.join()
    finally:
        other.close()
    assert len(refused) == 1 and "\n" not in refused[0]
    assert "lists 1,000,000 values, over the limit of 100,000 (WORKBENCH_FILTER_MAX_VALUES)" in refused[0]
    if backend == "postgres":  # nothing of the refused filter ever reached the server
        engine = create_engine(settings.database_url)
        with engine.connect() as connection:
            others = (
                "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
            statements = connection.execute(text(others)).scalars()
            assert not [s for s in statements if "v999999" in s or "@>" in s]
        engine.dispose()


def _catalogue_rows(styles: Path) -> list[dict[str, str]]:
    with styles.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_filters_at_the_limits_answer_like_python(
    workbench: Workbench, tmp_path: Path, statements: list[tuple[int, int]]
) -> None:
    images, styles = builders.fashion_catalogue(tmp_path / "fashion", n=24)
    workbench.ingest(images, "fashion", labels_csv=styles, label_column="articleType")
    rows = _catalogue_rows(styles)
    names = [rows[i]["productDisplayName"] for i in (0, 5, 6, 17)]
    names += [f"decoy {i}" for i in range(MAX_VALUES - len(names))]
    years = [2011, 2013.0, *range(3000, 3000 + MAX_VALUES - 2)]
    labels = ["Shirts", "Jeans"] + [f"decoy {i}" for i in range(MAX_VALUES - 2)]
    colours = ["Blue", "Red"] + [f"decoy {i}" for i in range(MAX_VALUES - 2)]
    assert len(names) + len(years) == MAX_TOTAL_VALUES  # at every limit at once
    cases = [
        ({"productDisplayName": names, "year": years},
         lambda r: r["productDisplayName"] in names and int(r["year"]) in (2011, 2013)),
        ({"label": labels}, lambda r: r["articleType"] in ("Shirts", "Jeans")),
        ({"label": "Jeans", "baseColour": colours},  # a narrow label: attributes checked row by row
         lambda r: r["articleType"] == "Jeans" and r["baseColour"] in ("Blue", "Red")),
        ({"year__in": years[:50]}, lambda r: int(r["year"]) in (2011, 2013)),  # the GIN index's list
    ]  # fmt: skip
    fashion = workbench.dataset("fashion")
    for spec, keep in cases:
        expected = sum(1 for r in rows if keep(r))
        assert 0 < expected < len(rows)
        narrowed = fashion.filter(spec)
        assert narrowed.count() == expected, list(spec)
        assert {r.original_name for r in narrowed} == {f"{r['id']}.jpg" for r in rows if keep(r)}
    assert statements  # and each was short, its lists in one parameter (the fixture's guard)


def test_an_attribute_named_with_a_backslash_matches_alike_on_both_backends(
    workbench: Workbench, tmp_path: Path
) -> None:
    images, _ = builders.fashion_catalogue(tmp_path / "fashion", n=24)
    styles = tmp_path / "back.csv"
    with styles.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "articleType", "back\\"])
        writer.writerows([1000 + i, CLASSES[i % 3], "x" if i < 12 else "y"] for i in range(24))
    workbench.ingest(images, "back", labels_csv=styles, label_column="articleType")
    view = workbench.dataset("back")
    many = ["x"] + [f"decoy {i}" for i in range(200)]
    for spec, expected in [
        ({"back\\": "x"}, 12), ({"back\\": ["x", "z"]}, 12), ({"back\\": many}, 12),
        ({"back\\__contains": "X"}, 12), ({"back\\__gt": "x"}, 12), ({"back\\__exists": True}, 24),
        ({"label": "Jeans", "back\\": "x"}, 4),
    ]:  # fmt: skip
        assert view.filter(spec).count() == expected, spec
    assert view.stats().attributes["back\\"] == {"x": 12, "y": 12}


# -- the database's own guard ---------------------------------------------------------------------


@pytest.mark.postgres
def test_a_statement_past_the_timeout_is_cancelled_in_one_line(postgres_url: str, tmp_path: Path) -> None:
    limits = Limits(statement_timeout_seconds=0.5)
    bench = Workbench(Settings(data_dir=tmp_path, database_url=postgres_url, user="tester", limits=limits))
    try:
        with pytest.raises(CatalogError) as error, bench.catalog.sessions() as session:
            session.execute(text("SELECT pg_sleep(30)"))
        message = str(error.value)
        assert "\n" not in message
        assert "statement timeout of 0.5 s" in message and "WORKBENCH_STATEMENT_TIMEOUT_SECONDS" in message
        with bench.catalog.sessions() as session:  # the pool's connections still serve
            assert session.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        bench.close()


@pytest.mark.postgres
def test_a_statement_timeout_set_in_the_environment_reaches_the_server(
    postgres_url: str, tmp_path: Path
) -> None:
    settings = Settings.from_env({
        "WORKBENCH_DATA_DIR": str(tmp_path), "WORKBENCH_DATABASE_URL": postgres_url,
        "WORKBENCH_STATEMENT_TIMEOUT_SECONDS": "42",
    })  # fmt: skip
    bench = Workbench(settings)
    try:
        with bench.catalog.sessions() as session:
            assert session.execute(text("SHOW statement_timeout")).scalar_one() == "42s"
    finally:
        bench.close()


# -- the dashboard --------------------------------------------------------------------------------


def test_a_pixel_bomb_uploaded_to_the_predict_tab_is_refused_in_one_line(
    workbench: Workbench, tmp_path: Path
) -> None:
    from workbench.widgets.predict import PredictPanel
    from workbench.widgets.state import DashboardState

    _tiny_model(workbench, tmp_path)
    panel = PredictPanel(DashboardState(workbench))
    bomb = builders.pixel_bomb_png(tmp_path / "pixel_bomb.png").read_bytes()
    panel._photo_changed({"new": [{"name": "pixel_bomb.png", "content": memoryview(bomb)}]})
    assert "workbench-error" in panel.status.value
    assert (
        "&#x27;pixel_bomb.png&#x27; is refused as a decompression bomb" in panel.status.value
    )  # HTML-escaped
    photo = {"name": "photo.png", "content": memoryview(builders.image_bytes(3))}
    panel._photo_changed({"new": [photo]})  # still works
    assert "predicted:" in panel.status.value
