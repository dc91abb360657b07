"""Views on SQLite and on the real Postgres: filters, paging, sampling, statistics and galleries.

One small catalogue of 24 images is ingested per test. Its rows are kept here as plain Python, so
what a filter should return is computed by Python over the same rows, not by the code under test.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import pytest
from IPython.display import HTML
from matplotlib.figure import Figure

from tests import builders
from workbench.api import Workbench
from workbench.errors import FilterError, IngestError, NotFoundError
from workbench.views import View

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
INJECTION = "x' OR '1'='1"


@dataclass(frozen=True)
class Row:
    """One image of the catalogue as the CSV and the image file describe it."""

    file: str
    label: str
    width: int
    height: int
    format: str
    year: int
    price: float
    colour: str
    season: str | None  # None: an empty cell, so the attribute is absent
    name: str
    batch: str | None  # twelve distinct values, absent on the other twelve rows


def _row(i: int) -> Row:
    fmt = "PNG" if i % 4 == 0 else "JPEG"
    return Row(
        file=f"{2000 + i}.{'png' if fmt == 'PNG' else 'jpg'}",
        label=["Tshirts", "Tshirts", "Tshirts", "Shirts", "Shirts", "Jeans"][i % 6],  # 12, 8, 4
        width=40 + 4 * (i % 6),
        height=30 if i % 2 else 40,
        format=fmt,
        year=2010 + i % 5,
        price=4.5 + 1.25 * i,  # 4.5 ... 33.25: "10" < "4.5" as text, so text comparison would show
        colour=["Navy Blue", "Black", "White", "Red"][i % 4],
        season=None if i % 5 == 4 else ["Summer", "Winter", "Fall"][i % 3],
        name="Tee 100%_cotton" if i == 7 else f"Item {i}",
        batch=f"B{i}" if i < 12 else None,
    )


ROWS = [_row(i) for i in range(24)]
ALL = {row.file for row in ROWS}


def _catalogue(root: Path) -> tuple[Path, Path]:
    images = root / "images"
    images.mkdir(parents=True)
    for i, row in enumerate(ROWS):
        data = builders.image_bytes(700 + i, size=(row.width, row.height), fmt=row.format)
        (images / row.file).write_bytes(data)
    records: list[dict[str, object]] = [
        {
            "id": row.file.split(".")[0],
            "articleType": row.label,
            "year": row.year,
            "price": row.price,
            "colour": row.colour,
            "season": row.season or "",
            "productDisplayName": row.name,
            "batch": row.batch or "",
        }
        for row in ROWS
    ]
    header = ["id", "articleType", "year", "price", "colour", "season", "productDisplayName", "batch"]
    return images, builders.styles_csv(root / "styles.csv", records, header)


@pytest.fixture
def fashion(workbench: Workbench, tmp_path: Path) -> View:
    images, styles = _catalogue(tmp_path / "fashion")
    report = workbench.ingest(
        images, "fashion", labels_csv=styles, label_column="articleType", split="0.75,0.25", seed=1
    )
    assert (report.ingested, report.skipped, report.csv_issues) == (24, [], [])
    return workbench.dataset("fashion")


def _files(view: View) -> set[str]:
    return {record.original_name for record in view}


def _expected(keep: Callable[[Row], bool]) -> set[str]:
    files = {row.file for row in ROWS if keep(row)}
    assert 0 < len(files) < len(ROWS), "a case that keeps nothing or everything proves little"
    return files


def _check(view: View, cases: list[tuple[dict[str, Any], Callable[[Row], bool]]]) -> None:
    for spec, keep in cases:
        narrowed = view.filter(spec)
        assert _files(narrowed) == _expected(keep), spec
        assert narrowed.count() == len(_expected(keep)), spec


def _refusal(view: View, spec: dict[str, Any]) -> str:
    """The FilterError message ``spec`` is refused with; a failure naming the spec if accepted."""
    try:
        view.filter(spec)
    except FilterError as error:
        return str(error)
    pytest.fail(f"{spec} was accepted")


# -- operators ---------------------------------------------------------------------------------


def test_eq_matches_columns_and_attributes(fashion: View) -> None:
    _check(
        fashion,
        [
            ({"label": "Jeans"}, lambda r: r.label == "Jeans"),
            ({"label__eq": "Shirts"}, lambda r: r.label == "Shirts"),
            ({"format": "PNG"}, lambda r: r.format == "PNG"),
            ({"width": 48}, lambda r: r.width == 48),
            ({"colour": "Navy Blue"}, lambda r: r.colour == "Navy Blue"),
            ({"year": 2012}, lambda r: r.year == 2012),
            ({"price": 7}, lambda r: r.price == 7.0),
            ({"season": "Fall"}, lambda r: r.season == "Fall"),
        ],
    )


@pytest.mark.parametrize("label_rows_called_narrow", [0, 10_000])
def test_attributes_beside_a_label_match_whichever_index_serves_them(
    fashion: View, label_rows_called_narrow: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beside a label that leaves few rows, attribute conditions are written as plain comparisons
    # (no index); otherwise as containment the GIN index serves. Both must mean the same.
    monkeypatch.setattr("workbench.views.NARROW_LABEL_ROWS", label_rows_called_narrow)
    _check(
        fashion,
        [
            ({"label": "Tshirts", "season": "Summer"},
             lambda r: r.label == "Tshirts" and r.season == "Summer"),
            ({"label": ["Shirts", "Jeans"], "year": [2011, 2013]},
             lambda r: r.label in ("Shirts", "Jeans") and r.year in (2011, 2013)),
            ({"label": "Tshirts", "price": 7, "colour": "White"},
             lambda r: r.label == "Tshirts" and r.price == 7.0 and r.colour == "White"),
            ({"label": "Tshirts", "season__exists": False},
             lambda r: r.label == "Tshirts" and r.season is None),
        ],
    )  # fmt: skip


def test_a_bare_list_means_in(fashion: View) -> None:
    _check(
        fashion,
        [
            ({"label": ["Jeans", "Shirts"]}, lambda r: r.label in ("Jeans", "Shirts")),
            ({"label__in": ["Jeans", "Shirts"]}, lambda r: r.label in ("Jeans", "Shirts")),
            ({"year": [2010, 2014]}, lambda r: r.year in (2010, 2014)),
            ({"season__in": ["Fall", "Winter"]}, lambda r: r.season in ("Fall", "Winter")),
            ({"price": [4.5, 7]}, lambda r: r.price in (4.5, 7.0)),
            ({"width__in": [40, 60]}, lambda r: r.width in (40, 60)),
        ],
    )


def test_numbers_are_compared_as_numbers(fashion: View) -> None:
    _check(
        fashion,
        [
            ({"year__gte": 2012}, lambda r: r.year >= 2012),
            ({"year__gt": 2012}, lambda r: r.year > 2012),
            ({"year__lt": 2012}, lambda r: r.year < 2012),
            ({"year__lte": 2012}, lambda r: r.year <= 2012),
            ({"year__gte": "2012"}, lambda r: r.year >= 2012),
            ({"price__gte": 10}, lambda r: r.price >= 10),
            ({"price__gt": 7}, lambda r: r.price > 7),
            ({"price__lte": 7.0}, lambda r: r.price <= 7),
            ({"width__lt": 48}, lambda r: r.width < 48),
            ({"height__gte": 40}, lambda r: r.height >= 40),
        ],
    )


def test_text_is_compared_as_text(fashion: View) -> None:
    _check(
        fashion,
        [
            ({"colour__lt": "Blue"}, lambda r: r.colour < "Blue"),
            ({"label__gte": "Shirts"}, lambda r: r.label >= "Shirts"),
            ({"season__gt": "Summer"}, lambda r: r.season is not None and r.season > "Summer"),
            ({"season__lte": "Fall"}, lambda r: r.season is not None and r.season <= "Fall"),
        ],
    )


def test_contains_finds_a_substring_in_columns_and_attributes(fashion: View) -> None:
    _check(
        fashion,
        [
            ({"colour__contains": "Blue"}, lambda r: "Blue" in r.colour),
            ({"productDisplayName__contains": "Item 1"}, lambda r: "Item 1" in r.name),
            ({"original_name__contains": ".png"}, lambda r: r.file.endswith(".png")),
            ({"label__contains": "eans"}, lambda r: r.label == "Jeans"),
        ],
    )


def test_contains_takes_percent_and_underscore_literally(fashion: View) -> None:
    _check(
        fashion,
        [
            ({"productDisplayName__contains": "%"}, lambda r: "%" in r.name),
            ({"productDisplayName__contains": "_"}, lambda r: "_" in r.name),
            ({"productDisplayName__contains": "0%_c"}, lambda r: "0%_c" in r.name),
        ],
    )


def test_contains_ignores_case_on_every_backend(fashion: View) -> None:
    _check(fashion, [({"label__contains": "shirt"}, lambda r: "shirt" in r.label.lower())])


def test_exists_tells_rows_with_an_attribute_from_rows_without(fashion: View) -> None:
    _check(
        fashion,
        [
            ({"season__exists": True}, lambda r: r.season is not None),
            ({"season__exists": False}, lambda r: r.season is None),
            ({"batch__exists": False}, lambda r: r.batch is None),
        ],
    )
    assert fashion.filter(split__exists=True).count() == 24
    assert fashion.filter(split__exists=False).count() == 0


def test_split_is_a_column_like_any_other(fashion: View) -> None:
    assert fashion.filter(split="train").labels() == {"Tshirts": 9, "Shirts": 6, "Jeans": 3}
    assert fashion.filter(split="val").labels() == {"Tshirts": 3, "Shirts": 2, "Jeans": 1}


def test_chained_filters_narrow_and_a_repeated_key_is_replaced(fashion: View) -> None:
    narrowed = fashion.filter(label="Tshirts").filter(year__gte=2012).filter(season__exists=True)
    assert _files(narrowed) == _expected(
        lambda r: r.label == "Tshirts" and r.year >= 2012 and r.season is not None
    )
    assert narrowed.spec == {"label": "Tshirts", "year__gte": 2012, "season__exists": True}
    assert fashion.filter(label="Jeans").filter(label="Shirts").labels() == {"Shirts": 8}
    assert fashion.count() == 24  # the view filtered from is unchanged


# -- JSON form ---------------------------------------------------------------------------------


def test_a_view_travels_as_json_and_comes_back_the_same(workbench: Workbench, fashion: View) -> None:
    view = fashion.filter(label=["Tshirts", "Jeans"], price__gte=10, season__exists=True)
    text = view.to_json()
    assert json.loads(text) == {
        "dataset": "fashion",
        "filter": {"label": ["Tshirts", "Jeans"], "price__gte": 10, "season__exists": True},
    }
    again = View.from_json(workbench.catalog, text)
    assert (again.dataset, again.spec) == ("fashion", view.spec)
    assert again.ids() == view.ids() != []
    assert View.from_json(workbench.catalog, json.loads(text)).ids() == view.ids()


def test_the_workbench_builds_a_view_from_its_json_form(workbench: Workbench, fashion: View) -> None:
    spec = {"dataset": "fashion", "filter": {"year__lte": 2011, "colour": ["Red", "Black"]}}
    expected = _expected(lambda r: r.year <= 2011 and r.colour in ("Red", "Black"))
    assert _files(workbench.view(spec)) == expected
    assert _files(workbench.view(json.dumps(spec))) == expected
    assert workbench.view({"dataset": "fashion"}).count() == 24


def test_a_view_without_a_dataset_is_refused(workbench: Workbench, fashion: View) -> None:
    with pytest.raises(FilterError, match="a view is"):
        workbench.view({"filter": {"label": "Jeans"}})
    with pytest.raises(NotFoundError, match="no dataset named 'nope'; yours are: fashion"):
        workbench.view({"dataset": "nope"})


def test_malformed_view_json_raises_filter_error(workbench: Workbench, fashion: View) -> None:
    with pytest.raises(FilterError):
        workbench.view('{"dataset": "fashion", ')


def test_a_filter_that_is_not_an_object_raises_filter_error(workbench: Workbench, fashion: View) -> None:
    for bad_filter in (["label"], "label", 3):
        with pytest.raises(FilterError, match="a filter is a JSON object"):
            workbench.view({"dataset": "fashion", "filter": bad_filter})


# -- errors ------------------------------------------------------------------------------------


def test_an_unknown_field_fails_at_once_listing_the_valid_fields(fashion: View) -> None:
    with pytest.raises(FilterError, match="unknown filter field 'color'") as error:
        fashion.filter(color="Red")
    listed = str(error.value).split("valid fields are: ")[1].split(", ")
    assert set(listed) == {
        "label",
        "split",
        "width",
        "height",
        "format",
        "bytes",
        "sha256",
        "original_name",
        "id",
        "year",
        "price",
        "colour",
        "season",
        "productDisplayName",
        "batch",
    }
    assert listed == fashion.fields


def test_an_unknown_operator_lists_the_operators(fashion: View) -> None:
    with pytest.raises(FilterError, match="unknown operator 'like'") as error:
        fashion.filter(label__like="Jeans")
    for operator in ("eq", "in", "gt", "gte", "lt", "lte", "contains", "exists"):
        assert operator in str(error.value).split("operators are: ")[1].split(", ")


def test_a_value_of_the_wrong_type_raises_filter_error(fashion: View) -> None:
    assert "'width__gte' holds numbers; 'abc' is not one" in _refusal(fashion, {"width__gte": "abc"})
    assert "'year__lt' holds numbers; 'soon' is not one" in _refusal(fashion, {"year__lt": "soon"})
    assert "'price' holds numbers" in _refusal(fashion, {"price": "cheap"})
    assert "contains works on text fields" in _refusal(fashion, {"year__contains": "20"})
    assert "contains works on text fields" in _refusal(fashion, {"bytes__contains": 1})
    assert "takes true or false" in _refusal(fashion, {"season__exists": "yes"})
    assert "needs at least one value" in _refusal(fashion, {"label__in": []})


def test_values_with_quotes_and_sql_in_them_are_bound_not_run(workbench: Workbench, fashion: View) -> None:
    hostile: list[dict[str, Any]] = [
        {"label": INJECTION},
        {"colour": INJECTION},
        {"label__in": [INJECTION, "Jeans' --"]},
        {"productDisplayName__contains": "'; DROP TABLE images; --"},
        {"season__gte": INJECTION + " --"},
        {"original_name": '2000.png" OR 1=1 --'},
    ]
    for spec in hostile:
        assert fashion.filter(spec).count() == 0, spec
    assert fashion.count() == 24
    assert [d.images for d in workbench.datasets()] == [24]


def test_a_number_too_large_for_the_database_is_answered_or_refused_cleanly(fashion: View) -> None:
    for spec in ({"bytes__lt": 10**30}, {"year__lt": 1e30}):
        try:
            count = fashion.filter(spec).count()
        except FilterError:
            continue
        assert count == 24, spec


def test_an_attribute_named_with_a_double_quote_is_refused_at_ingest(
    workbench: Workbench, tmp_path: Path
) -> None:
    # SQLite's JSON paths ('$."<key>"') cannot hold a quote: refuse the column up front rather
    # than ingest an attribute that would silently never match.
    images = tmp_path / "images"
    images.mkdir()
    rows: list[dict[str, object]] = []
    for i in range(3):
        (images / f"{i}.png").write_bytes(builders.image_bytes(900 + i))
        rows.append({"id": i, "kind": "tv", 'size "inch"': 30 + 10 * i})
    styles = builders.styles_csv(tmp_path / "styles.csv", rows, ["id", "kind", 'size "inch"'])
    with pytest.raises(IngestError, match="rename the column 'size \"inch\"'"):
        workbench.ingest(images, "tvs", labels_csv=styles, label_column="kind")


# -- counting, paging, iterating, sampling ------------------------------------------------------


def test_count_and_len_agree_with_the_rows(fashion: View) -> None:
    assert fashion.count() == len(fashion) == 24
    assert len(fashion.filter(label="Jeans")) == 4


def test_labels_are_most_common_first_then_by_name(fashion: View) -> None:
    assert list(fashion.labels().items()) == [("Tshirts", 12), ("Shirts", 8), ("Jeans", 4)]
    tied = fashion.filter(year=2010)  # rows 0, 5, 10, 15, 20: Tshirts 2, Shirts 2, Jeans 1
    assert list(tied.labels().items()) == [("Shirts", 2), ("Tshirts", 2), ("Jeans", 1)]


def test_pages_are_in_id_order_without_overlap_or_gap(fashion: View) -> None:
    pages = [fashion.page(number, size=5) for number in range(6)]
    assert [len(page) for page in pages] == [5, 5, 5, 5, 4, 0]
    ids = [record.id for page in pages for record in page]
    assert ids == sorted(ids) == fashion.ids()
    assert len(set(ids)) == 24
    jeans = fashion.filter(label="Jeans")
    assert [r.id for r in jeans.page(0, 3) + jeans.page(1, 3)] == jeans.ids()


def test_iterating_yields_every_image_once_in_id_order(fashion: View) -> None:
    records = list(fashion)
    assert [r.id for r in records] == fashion.ids()
    assert sorted(r.original_name for r in records) == sorted(ALL)
    shirts = list(fashion.filter(label="Shirts"))
    assert len(shirts) == 8 and {r.label for r in shirts} == {"Shirts"}


def test_records_carry_the_image_and_its_attributes(fashion: View) -> None:
    record = fashion.filter(original_name="2007.jpg").page()[0]
    row = ROWS[7]
    assert (record.label, record.width, record.height, record.format) == (
        row.label,
        row.width,
        row.height,
        "JPEG",
    )
    assert record.attributes == {
        "id": 2007,
        "year": row.year,
        "price": row.price,
        "colour": row.colour,
        "season": row.season,
        "productDisplayName": row.name,
        "batch": row.batch,
    }
    assert "season" not in fashion.filter(original_name="2004.png").page()[0].attributes


def test_a_sample_is_the_same_for_a_seed_and_another_for_another_seed(fashion: View) -> None:
    first = [r.id for r in fashion.sample(6, seed=0)]
    assert [r.id for r in fashion.sample(6, seed=0)] == first
    assert [r.id for r in fashion.sample(6, seed=1)] != first


def test_a_sample_holds_n_distinct_images_of_the_view(fashion: View) -> None:
    for n in (1, 5, 24):
        ids = [r.id for r in fashion.sample(n, seed=3)]
        assert len(ids) == len(set(ids)) == n
        assert set(ids) <= set(fashion.ids())


def test_a_sample_larger_than_the_view_is_the_whole_view(fashion: View) -> None:
    assert sorted(r.id for r in fashion.sample(100, seed=2)) == fashion.ids()


def test_a_sample_keeps_to_the_filter(fashion: View) -> None:
    jeans = fashion.filter(label="Jeans")
    assert {r.label for r in jeans.sample(3, seed=0)} == {"Jeans"}
    assert sorted(r.id for r in jeans.sample(10, seed=0)) == jeans.ids()
    assert len(fashion.filter(year__gte=2013).sample(5, seed=9)) == 5


# -- statistics and pictures -------------------------------------------------------------------


def test_stats_count_labels_splits_sizes_and_formats(fashion: View) -> None:
    stats = fashion.stats()
    assert stats.count == 24
    assert list(stats.labels.items()) == [("Tshirts", 12), ("Shirts", 8), ("Jeans", 4)]
    assert stats.splits == {"train": 18, "val": 6}
    assert stats.sizes == dict(Counter(f"{r.width}x{r.height}" for r in ROWS))
    assert stats.formats == {"JPEG": 18, "PNG": 6}


def test_stats_give_top_values_of_text_attributes(fashion: View) -> None:
    attributes = fashion.stats().attributes
    assert attributes["colour"] == {"Navy Blue": 6, "Black": 6, "White": 6, "Red": 6}
    assert attributes["season"] == dict(Counter(r.season for r in ROWS if r.season is not None))
    names = attributes["productDisplayName"]
    assert len(names) == 11 and names["(other)"] == 14 and sum(names.values()) == 24


def test_stats_top_values_account_for_every_row_having_the_attribute(fashion: View) -> None:
    batches = fashion.stats().attributes["batch"]  # 12 distinct values, absent on 12 rows
    assert sum(batches.values()) == 12
    assert batches.get("(other)") == 2


def test_stats_give_min_mean_max_of_numeric_attributes(fashion: View) -> None:
    numeric = fashion.stats().numeric
    years, prices = [r.year for r in ROWS], [r.price for r in ROWS]
    assert numeric["year"] == pytest.approx({"min": min(years), "mean": mean(years), "max": max(years)})
    assert numeric["price"] == pytest.approx({"min": min(prices), "mean": mean(prices), "max": max(prices)})
    assert "colour" not in numeric


def test_stats_follow_the_filter(fashion: View) -> None:
    stats = fashion.filter(label="Jeans").stats()
    jeans = [r for r in ROWS if r.label == "Jeans"]
    assert (stats.count, stats.labels) == (4, {"Jeans": 4})
    assert stats.numeric["year"]["max"] == max(r.year for r in jeans)
    assert stats.to_dict()["count"] == 4


def test_stats_plot_is_a_figure_and_renders_as_png(fashion: View) -> None:
    stats = fashion.stats()
    figure = stats.plot()
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert "class balance (24 images)" in titles and "colour" in titles
    assert stats._repr_png_().startswith(PNG_MAGIC)


def test_show_embeds_n_thumbnails_as_data_uris(fashion: View) -> None:
    grid = fashion.show(5)
    assert isinstance(grid, HTML)
    assert grid.data.count("<img ") == grid.data.count('<img src="data:image/') == 5
    assert fashion.filter(label="Jeans").show(10).data.count('src="data:image/') == 4


def test_show_escapes_labels_and_names(workbench: Workbench, tmp_path: Path) -> None:
    label = '<img src=x onerror="alert(1)">'
    workbench.ingest(builders.image_folder(tmp_path / "xss", {label: 2}), "xss")
    page = workbench.dataset("xss").show(2).data
    assert page.count("<img") == 2
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
