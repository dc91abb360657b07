"""What a recipe does, before spending minutes on it: a before/after grid computed here and now on
a handful of sampled images (no job). The copies shown are the very bytes the augment job stores
for the same recipe and seed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from workbench.augment import Augmented, Recipe, augment_copies, decode
from workbench.errors import AugmentError
from workbench.ml.plot import Plot

if TYPE_CHECKING:
    from workbench.views import ImageRecord, View

MAX_PREVIEW = 64


def preview_copies(
    view: View, recipe: Any, n: int = 8, seed: int = 0, copies: int = 1
) -> list[tuple[ImageRecord, list[Augmented]]]:
    """``n`` images of the view (a seeded sample) with their first ``copies`` augmented copies."""
    parsed = Recipe.parse(recipe)
    if not 1 <= n <= MAX_PREVIEW or not 1 <= copies <= 8:
        raise AugmentError(
            f"a preview shows 1 to {MAX_PREVIEW} images and 1 to 8 copies; got n={n}, copies={copies}"
        )
    records = view.sample(n, seed)
    if not records:
        raise AugmentError(f"{view!r} has no images: nothing to preview (check its filter)")
    store = view.catalog.store
    return [
        (r, augment_copies(store.read(r.sha256), r.sha256, r.format, parsed, seed, range(copies)))
        for r in records
    ]


def augment_preview(view: View, recipe: Any, n: int = 8, seed: int = 0, copies: int = 1) -> Plot:
    """Originals on the top row, their copies below; a notebook shows the figure as it is returned."""
    shown = preview_copies(view, recipe, n, seed, copies)
    figure = Plot(figsize=(1.6 * len(shown), 1.7 * (1 + copies)), layout="constrained")
    axes = figure.subplots(1 + copies, len(shown), squeeze=False)
    for column, (record, made) in enumerate(shown):
        original = decode(view.catalog.store.read(record.sha256))
        _show(axes[0][column], original, record.label)
        for row, image in enumerate(made, start=1):
            _show(axes[row][column], decode(image.data), f"copy {row - 1}")
    axes[0][0].set_ylabel("before")
    figure.suptitle(f"{view.dataset}: {', '.join(Recipe.parse(recipe).ops)} (seed {seed})", fontsize=10)
    return figure


def _show(ax: Any, pixels: np.ndarray, title: str) -> None:
    if pixels.ndim == 2:
        ax.imshow(pixels, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB), interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
