"""The current view's statistics: class balance, image sizes and attribute breakdowns as plots."""

from __future__ import annotations

import html

import ipywidgets as widgets

from workbench.widgets.common import empty_state, figure_image, show_png
from workbench.widgets.state import DashboardState


class StatsPanel(widgets.VBox):
    """Drawn when first shown and redrawn only while shown: drawing the figure for a tab nobody
    opened cost every page load about 0.45 s (docs/benchmarks.md, dashboard)."""

    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.summary = widgets.HTML()
        self.plot = figure_image()  # hidden until there is a plot
        self.plot.add_class("workbench-stats-plot")
        self.shown = False
        self.stale = True
        state.observe(lambda _: self._data_changed(), names=["dataset", "spec", "datasets_changed"])
        super().__init__([self.summary, self.plot])

    def set_shown(self, shown: bool) -> None:
        self.shown = shown
        if shown and self.stale:
            self.refresh()

    def _data_changed(self) -> None:
        self.stale = True
        if self.shown:
            self.refresh()

    def refresh(self) -> None:
        self.stale = False
        view = self.state.view()
        if view is None or not view.count():
            self.summary.value = empty_state(
                "No images to count yet: bring a dataset in the Data tab (or try the sample dataset), "
                "or widen the filter."
            )
            show_png(self.plot, b"")
            return
        stats = view.stats()
        self.summary.value = f"<pre>{html.escape(stats.summary())}</pre>"
        show_png(self.plot, stats._repr_png_())
