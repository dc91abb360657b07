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
from workbench.report_sections.display import (
    Column,
    Tile,
    facts,
    figure_html,
    gallery,
    number,
    section,
    table,
    text,
    title,
)
from workbench.report_sections.display import verdict as verdict_paragraph
from workbench.views import View
from workbench.views.plots import stats_figure
from workbench.views.spec import describe_filter
from workbench.views.stats import Stats

LOOKALIKE_SAMPLE = 5_000  # images hashed for look-alikes: a bounded cost on any dataset


def resolve(catalog: Catalog, dataset: str | None, spec: dict[str, Any] | None) -> View:
    """The view to report on: ``dataset`` filtered by ``spec``; the newest dataset when None."""
    if dataset is None:
        dataset = catalog.newest_dataset_name()
        if dataset is None:
            raise NotFoundError(f"user {catalog.user!r} has no datasets yet: `workbench ingest` one")
    return View(catalog, dataset, spec or {})


FEW_IMAGES = 20  # a class with fewer images than this gives a model too little to learn from
UNBALANCED = 3.0  # the largest class this many times the smallest: the model leans to the large


def heading(view: View) -> HTML:
    return title(f"Dataset report: {view.dataset}", described(view))


def described(view: View) -> str:
    rules = describe_filter(view.spec)
    return f"only the images with {rules}" if rules else "all of its images"


def verdict(view: View, stats: Stats) -> HTML:
    """Is this enough, balanced data to train on? In a few sentences."""
    if not stats.count:
        return verdict_paragraph(["No images here: nothing to train on (check the filter)."])
    counts = sorted(stats.labels.items(), key=lambda item: item[1])
    said = [f"{stats.count:,} images in {len(counts)} classes."]
    (small, fewest), (large, most) = counts[0], counts[-1]
    if len(counts) < 2:
        said.append("A classifier needs two classes or more: add images of another label.")
    elif most >= UNBALANCED * fewest:
        said.append(f"Unbalanced: {large} has {most:,} images, {small} only {fewest:,}; "
                    "the model will lean towards the larger classes.")  # fmt: skip
    else:
        said.append(f"Balanced: from {fewest:,} ({small}) to {most:,} ({large}) images per class.")
    if "split" in view.spec:  # a part of a dataset: whether the whole is trainable is not said here
        return verdict_paragraph(said)
    if thin := [label for label, n in counts if n < FEW_IMAGES]:
        which = f"all {len(thin)} classes" if len(thin) == len(counts) else ", ".join(thin[:5])
        said.append(f"Too few images to learn from in {which}: aim for {FEW_IMAGES} or more per class.")
    if {"train", "val", "test"} <= set(stats.splits):
        said.append("Split into training, validation and test images.")
    else:
        said.append("Not split yet: training will set aside validation and test images itself.")
    return verdict_paragraph(said)


def headline(view: View, stats: Stats) -> HTML:
    return facts(
        {
            "dataset": view.dataset,
            "images": f"{stats.count:,} ({described(view)})",
            "classes": f"{len(stats.labels):,}",
            "split into": ", ".join(f"{k} {v:,}" for k, v in stats.splits.items()) or "not split",
            "file formats": ", ".join(f"{k} {v:,}" for k, v in stats.formats.items()),
            "attributes": ", ".join(view.attribute_types) or "none",
        }
    )


def balance(stats: Stats) -> HTML | None:
    """Class balance, image sizes and the most varied attributes, in one figure."""
    if not stats.count:
        return None
    figure = figure_html(stats_figure(stats), "class balance, image sizes and attributes")
    return section("Class balance, sizes and attributes", figure)


def sizes(view: View) -> HTML | None:
    """Width, height and file size distributions over a sample of the view."""
    records = view.sample(LOOKALIKE_SAMPLE)
    if not records:
        return None
    figure = Figure(figsize=(12, 3.2), layout="constrained")
    axes = figure.subplots(1, 3)
    columns: tuple[list[float], ...] = (
        [r.width for r in records], [r.height for r in records], [r.bytes / 1024 for r in records]
    )  # fmt: skip
    for ax, values, name in zip(
        axes,
        columns,
        ("width (px)", "height (px)", "file size (KiB)"),
        strict=True,
    ):
        ax.hist(values, bins=min(40, max(5, len(set(values)))), color="#4C72B0")
        ax.set(title=name, ylabel="images")
    figure.suptitle(f"{len(records):,} images" + (" (a sample)" if len(records) == LOOKALIKE_SAMPLE else ""))
    return section("Size distribution", figure_html(figure, "width, height and file size"))


def attributes(stats: Stats) -> HTML | None:
    """Every attribute's most common values (with the rest summed) and numeric ranges."""
    if not stats.attributes and not stats.numeric:
        return None
    rows = [
        {"attribute": name, "values": ", ".join(f"{k} ({v:,})" for k, v in values.items())}
        for name, values in stats.attributes.items()
    ]
    rows += [
        {"attribute": name, "values": f"min {s['min']:.4g}, mean {s['mean']:.4g}, max {s['max']:.4g}"}
        for name, s in stats.numeric.items()
    ]
    columns: list[Column] = [("attribute", "attribute", text), ("values", "values (images)", text)]
    return section("Attribute breakdowns", table(rows, columns))


def samples(view: View, n: int = 48, seed: int = 0) -> HTML | None:
    records = view.sample(n, seed)
    if not records:
        return None
    tiles = [Tile(r.sha256, r.label, f"{r.original_name} ({r.width}x{r.height})") for r in records]
    return section("A sample", gallery(view.catalog.store, tiles), f"{len(records)} images picked at random.")


def copies_elsewhere(view: View) -> HTML | None:
    """Images of this view whose exact bytes are also in another of the user's datasets."""
    rows = [{"dataset": name, "images": n} for name, n in view.copies_elsewhere().items()]
    if not rows:
        return None
    columns: list[Column] = [("dataset", "also in dataset", text), ("images", "images", number)]
    return section("Copies in your other datasets", table(rows, columns), "The very same files.")


def lookalikes(view: View, show: int = 12) -> HTML | None:
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
    if not records:
        return None
    intro = (
        "Images that look the same; those spread over training and validation/test let the test "
        "peek at training images, and the accuracy looks better than it is."
    )
    return section(
        "Look-alikes and leakage",
        summary.data + (gallery(view.catalog.store, tiles).data if tiles else ""),
        intro,
    )


def difference_hash(path: Any, side: int = 8) -> int:
    """A 64-bit perceptual hash: whether each pixel is brighter than its right neighbour at 9x8
    grey. Re-encoded, resized or lightly recompressed copies share it."""
    with PILImage.open(path) as image:
        grey = np.asarray(image.convert("L").resize((side + 1, side), PILImage.Resampling.BILINEAR), np.int16)
    bits = (grey[:, 1:] > grey[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])
