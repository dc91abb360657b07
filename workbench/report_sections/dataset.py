"""Sections of the dataset report: class balance, sizes, attribute breakdowns, a sample grid,
duplicates and leakage between splits."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from IPython.display import HTML
from matplotlib.figure import Figure
from PIL import Image as PILImage

from workbench.catalog import Catalog
from workbench.errors import NotFoundError
from workbench.report_sections.display import Tile, facts, gallery, note, number, png, table, text
from workbench.views import View
from workbench.views.plots import stats_figure
from workbench.views.stats import Stats

LOOKALIKE_SAMPLE = 5_000  # images hashed for look-alikes: a bounded cost on any dataset


def resolve(catalog: Catalog, dataset: str | None, spec: dict[str, Any] | None) -> View:
    """The view to report on: ``dataset`` filtered by ``spec``; the newest dataset when None."""
    if dataset is None:
        dataset = catalog.newest_dataset_name()
        if dataset is None:
            raise NotFoundError(f"user {catalog.user!r} has no datasets yet: `workbench ingest` one")
    return View(catalog, dataset, spec or {})


def headline(view: View, stats: Stats) -> HTML:
    return facts(
        {
            "dataset": view.dataset,
            "filter": view.spec or "none (the whole dataset)",
            "images": f"{stats.count:,}",
            "labels": f"{len(stats.labels):,}",
            "splits": ", ".join(f"{k} {v:,}" for k, v in stats.splits.items()) or "none",
            "formats": ", ".join(f"{k} {v:,}" for k, v in stats.formats.items()),
            "attributes": ", ".join(view.attribute_types) or "none",
        }
    )


def balance(stats: Stats) -> HTML:
    """Class balance, image sizes and the most varied attributes, in one figure."""
    return png(stats_figure(stats), "class balance, image sizes and attributes")


def sizes(view: View) -> HTML:
    """Width, height and file size distributions over a sample of the view."""
    records = view.sample(LOOKALIKE_SAMPLE)
    if not records:
        return note("no images")
    figure = Figure(figsize=(12, 3.2), layout="constrained")
    axes = figure.subplots(1, 3)
    columns: tuple[list[float], ...] = (
        [r.width for r in records], [r.height for r in records], [r.bytes / 1024 for r in records]
    )  # fmt: skip
    for ax, values, title in zip(
        axes,
        columns,
        ("width (px)", "height (px)", "file size (KiB)"),
        strict=True,
    ):
        ax.hist(values, bins=min(40, max(5, len(set(values)))), color="#4C72B0")
        ax.set(title=title, ylabel="images")
    figure.suptitle(f"{len(records):,} images" + (" (a sample)" if len(records) == LOOKALIKE_SAMPLE else ""))
    return png(figure, "width, height and file size")


def attributes(stats: Stats) -> HTML:
    """Every attribute's most common values (with the rest summed) and numeric ranges."""
    if not stats.attributes and not stats.numeric:
        return note("this dataset has no attributes")
    rows = [
        {"attribute": name, "values": ", ".join(f"{k} ({v:,})" for k, v in values.items())}
        for name, values in stats.attributes.items()
    ]
    rows += [
        {"attribute": name, "values": f"min {s['min']:.4g}, mean {s['mean']:.4g}, max {s['max']:.4g}"}
        for name, s in stats.numeric.items()
    ]
    return table(rows, [("attribute", "attribute", text), ("values", "values (images)", text)])


def samples(view: View, n: int = 48, seed: int = 0) -> HTML:
    records = view.sample(n, seed)
    tiles = [Tile(r.sha256, r.label, f"{r.original_name} ({r.width}x{r.height})") for r in records]
    return gallery(view.catalog.store, tiles)


def copies_elsewhere(view: View) -> HTML:
    """Images of this view whose exact bytes are also in another of the user's datasets."""
    rows = [{"dataset": name, "images": n} for name, n in view.copies_elsewhere().items()]
    if not rows:
        return note(
            "no image of this view is also in another dataset (images are unique by content within one)"
        )
    return table(rows, [("dataset", "also in dataset", text), ("images", "images", number)])


def lookalikes(view: View, show: int = 12) -> HTML:
    """Images that look the same (the same difference hash), and those of them that sit in
    different splits: near-duplicates across train and validation/test inflate test scores."""
    records = view.sample(LOOKALIKE_SAMPLE)
    groups: dict[int, list[Any]] = defaultdict(list)
    for record in records:
        groups[difference_hash(view.catalog.store.thumb_path(record.sha256))].append(record)
    repeated = [g for g in groups.values() if len(g) > 1]
    leaking = [g for g in repeated if "train" in {r.split for r in g} and {r.split for r in g} - {"train"}]
    summary = facts(
        {
            "images hashed": f"{len(records):,}"
            + (" (a sample)" if len(records) == LOOKALIKE_SAMPLE else ""),
            "groups of look-alikes": f"{len(repeated):,} ({sum(map(len, repeated)):,} images)",
            "groups across train and validation/test (possible leakage)": f"{len(leaking):,}",
        }
    )
    shown = sorted(leaking, key=len, reverse=True)[:show]
    tiles = [
        Tile(r.sha256, f"#{n} {r.label} · {r.split or 'no split'}", f"image {r.id}: {r.original_name}")
        for n, group in enumerate(shown, 1)
        for r in group
    ]
    return HTML(summary.data + (gallery(view.catalog.store, tiles).data if tiles else ""))


def difference_hash(path: Any, side: int = 8) -> int:
    """A 64-bit perceptual hash: whether each pixel is brighter than its right neighbour at 9x8
    grey. Re-encoded, resized or lightly recompressed copies share it."""
    with PILImage.open(path) as image:
        grey = np.asarray(image.convert("L").resize((side + 1, side), PILImage.Resampling.BILINEAR), np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])
