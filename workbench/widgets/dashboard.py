"""The dashboard: every panel in tabs, for people who never write code. Built by
``notebooks/dashboard.ipynb`` under Voila; the same object works in JupyterLab."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

from workbench.api import Workbench
from workbench.jobs import QUEUED, RUNNING
from workbench.widgets.augment import AugmentPanel
from workbench.widgets.current import CurrentData
from workbench.widgets.datasets import DatasetPicker
from workbench.widgets.filters import FilterPanel
from workbench.widgets.gallery import Gallery
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.models import ModelsPanel
from workbench.widgets.predict import PredictPanel
from workbench.widgets.reports import ReportsPanel
from workbench.widgets.sharing import DatasetActions
from workbench.widgets.state import DashboardState
from workbench.widgets.stats import StatsPanel
from workbench.widgets.theme import ROOT_CLASS, theme_style
from workbench.widgets.tokens import TokensPanel
from workbench.widgets.training import TrainingPanel

TABS = ("Data", "Augment", "Train", "Models", "Predict", "Reports", "API")


class Dashboard(widgets.VBox):
    def __init__(
        self,
        workbench: Workbench | None = None,
        *,
        dataset: str | None = None,
        downloads: Path | None = None,
        downloads_url: str = "",
    ) -> None:
        # ``dataset``: e.g. from the page's ?dataset= parameter; the picker says if it is not there
        self.state = DashboardState(workbench or Workbench(), dataset=dataset or None)
        self.datasets = DatasetPicker(self.state)
        self.filters = FilterPanel(self.state)
        self.gallery = Gallery(self.state)
        self.stats = StatsPanel(self.state)
        self.augment = AugmentPanel(self.state)
        self.training = TrainingPanel(self.state)
        self.models = ModelsPanel(self.state, downloads, downloads_url)
        self.predict = PredictPanel(self.state, downloads, downloads_url)
        self.reports = ReportsPanel(self.state, downloads, downloads_url)
        explore = widgets.Tab(
            [self.gallery, self.stats], titles=("Images", "Statistics"), layout=widgets.Layout(width="100%")
        )
        explore.observe(lambda change: self.stats.set_shown(change["new"] == 1), names="selected_index")
        data = widgets.VBox(
            [
                widgets.HBox([self.datasets, self.filters], layout=widgets.Layout(flex_flow="row wrap")),
                DatasetActions(self.state),
                CurrentData(self.state, "Showing"),  # the sign of an active filter
                explore,
            ]
        )
        self.tokens = TokensPanel(self.state)
        panels = [data, self.augment, self.training, self.models, self.predict, self.reports, self.tokens]
        self.tabs = widgets.Tab(panels, titles=TABS)
        self.tabs.add_class("workbench-tabs")
        super().__init__(
            [theme_style(), self._title(), self._under_way(), self.tabs], layout=widgets.Layout(width="100%")
        )
        self.add_class(ROOT_CLASS)

    @staticmethod
    def _title() -> widgets.HTML:
        title = widgets.HTML("<h2>workbench<small>image classification, from a zip to a model</small></h2>")
        title.add_class("workbench-title")
        return title

    def _under_way(self) -> widgets.VBox:
        """Jobs still queued or running when the page opened (a reload, another tab): followed
        live again. Training is shown with its curves in the Train tab instead."""
        bench = self.state.workbench
        found = [
            info for state in (RUNNING, QUEUED) for info in bench.jobs(state=state) if info.kind != "train"
        ]
        box = widgets.VBox([DashboardJob(bench.job(info.id)) for info in found])
        box.add_class("workbench-under-way")
        return box
