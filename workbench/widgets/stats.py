"""The current view's statistics: class balance, image sizes and attribute breakdowns as plots."""

from __future__ import annotations

import html

import ipywidgets as widgets

from workbench.widgets.common import figure_image
from workbench.widgets.state import DashboardState


class StatsPanel(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.summary = widgets.HTML()
        self.plot = figure_image()
        self.plot.add_class("workbench-stats-plot")
        state.observe(lambda _: self.refresh(), names=["dataset", "spec", "datasets_changed"])
        super().__init__([self.summary, self.plot])
        self.refresh()

    def refresh(self) -> None:
        view = self.state.view()
        if view is None or not view.count():
            self.summary.value, self.plot.value = "<i>nothing to show yet</i>", b""
            return
        stats = view.stats()
        self.summary.value = f"<pre>{html.escape(stats.summary())}</pre>"
        self.plot.value = stats._repr_png_()
