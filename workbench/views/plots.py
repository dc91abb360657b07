"""Matplotlib figures for view statistics: class balance, image sizes, attribute breakdowns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from workbench.ml.plot import Plot

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from workbench.views.stats import Stats

MAX_BARS = 30
MAX_ATTRIBUTE_PANELS = 4


def stats_figure(stats: Stats) -> Plot:
    """One figure: labels and sizes on top, the most varied attributes below."""
    attributes = [(k, v) for k, v in stats.attributes.items() if len(v) > 1][:MAX_ATTRIBUTE_PANELS]
    rows = 1 + (len(attributes) + 1) // 2
    figure = Plot(figsize=(12, 3.6 * rows), layout="constrained")
    axes = figure.subplots(rows, 2, squeeze=False)
    _bars(axes[0][0], stats.labels, f"class balance ({stats.count:,} images)")
    _bars(axes[0][1], stats.sizes, "image sizes (W x H)")
    for panel, (name, values) in enumerate(attributes):
        _bars(axes[1 + panel // 2][panel % 2], values, name)
    for panel in range(len(attributes), 2 * (rows - 1)):
        axes[1 + panel // 2][panel % 2].set_visible(False)
    return figure


def _bars(ax: Axes, counts: dict[str, int], title: str) -> None:
    items = list(counts.items())[:MAX_BARS]
    names = [str(k) for k, _ in items]
    ax.barh(names[::-1], [n for _, n in items][::-1], color="#4C72B0")
    ax.set_title(title)
    ax.tick_params(axis="y", labelsize=8 if len(items) > 12 else 10)
    ax.set_xlabel("images")
