"""Reports: make one for the current dataset or a model (a job), list them, open one in a tab."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench.errors import WorkbenchError
from workbench.jobs.records import SUCCEEDED, JobInfo
from workbench.jobs.widget import follow
from workbench.widgets.common import Status, empty_state, guarded
from workbench.widgets.current import CurrentData, filter_words, model_words
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.state import DashboardState


def report_words(report: dict[str, Any], model_names: dict[int, str]) -> str:
    """'Dataset report: digits, label in {0, 1} — 2026-12-05 09:12' instead of raw JSON."""
    params = report["params"]
    if "model_id" in params:
        model_id = params["model_id"]
        subject = f"{model_names.get(model_id, 'a deleted model')} (model {model_id})"
    else:
        subject = params.get("dataset", "")
        if params.get("filter"):
            subject += f", {filter_words(params['filter'])}"
    when = str(report["created_at"])[:16].replace("T", " ")
    return f"{report['kind'].capitalize()} report: {subject} — {when}"


class ReportsPanel(widgets.VBox):
    """Opening a report hard-links its HTML into ``downloads`` (what the page's server
    publishes at ``downloads_url``), like the Models panel's files."""

    def __init__(self, state: DashboardState, downloads: Path | None = None, downloads_url: str = "") -> None:
        self.state = state
        self.downloads, self.downloads_url = downloads, downloads_url.rstrip("/")
        self.kind = widgets.Dropdown(
            options=[("on the current data", "dataset"), ("on a model", "model")],
            description="Report",
        )
        self.model = widgets.Dropdown(description="Model", layout=widgets.Layout(width="420px"))
        self.model.add_class("workbench-report-model")
        self.current = CurrentData(state, "about")
        self.kind.observe(lambda _: self._show_choice(), names="value")
        self.make = widgets.Button(description="Make report", icon="file-text", button_style="primary")
        self.listing = widgets.Select(description="Reports", rows=8, layout=widgets.Layout(width="620px"))
        self.listing.add_class("workbench-report-list")
        self.open_button = widgets.Button(description="Open", icon="external-link")
        self.link = widgets.HTML()
        self.status = Status("reports")
        self.job_area = widgets.VBox()
        self.make.on_click(guarded(self.status)(lambda _: self._make()))
        self.open_button.on_click(guarded(self.status)(lambda _: self._open()))
        state.observe(lambda _: self.refresh(), names=["datasets_changed", "models_changed"])
        super().__init__(
            [
                widgets.HBox([self.kind, self.model, self.make, self.current]),
                self.status,
                self.job_area,
                widgets.HBox([self.listing, self.open_button]),
                self.link,
            ]
        )
        self.refresh()
        self._show_choice()

    def refresh(self) -> None:
        bench = self.state.workbench
        models = list(reversed(bench.models()))  # the newest first
        names = {m["id"]: m["name"] for m in models}
        chosen = self.model.value  # replacing the options moves the choice: put it back
        self.model.options = [(model_words(m), m["id"]) for m in models]
        self.model.value = chosen if chosen in names else (models[0]["id"] if models else None)
        reports = bench.reports()
        self.listing.options = [(report_words(r, names), r["id"]) for r in reports]
        if not reports:
            self.link.value = empty_state("No reports yet: make one above.")

    def _show_choice(self) -> None:
        """A model report asks which model; a dataset report says which data."""
        on_model = self.kind.value == "model"
        self.model.layout.display = None if on_model else "none"
        self.current.layout.display = "none" if on_model else None

    def _make(self) -> None:
        if self.kind.value == "dataset":
            if not self.state.dataset:
                raise WorkbenchError("choose or bring a dataset first (Data tab)")
            params = {"dataset": self.state.dataset, "filter": self.state.spec}
        else:
            if self.model.value is None:
                raise WorkbenchError("no models yet: train one in the Train tab")
            params = {"model_id": self.model.value}
        job = self.state.workbench.report_job(self.kind.value, params)
        self.job_area.children = [DashboardJob(job)]
        self.status.busy(f"making the {self.kind.value} report (a minute or so)…")
        follow(job, self._reading)

    def _reading(self, info: JobInfo) -> None:
        if not info.finished:
            return
        if info.state == SUCCEEDED:
            report_id = (info.result or {}).get("report_id")
            self.refresh()
            self.listing.value = report_id
            if self.downloads is not None:
                self._open()
            self.status.ok(f"report {report_id} ready: open it with the link below")
        else:
            self.status.error(f"the report {info.state}: {info.error or info.message}")

    def _open(self) -> None:
        if self.listing.value is None:
            raise WorkbenchError("choose a report in the list first")
        if self.downloads is None:
            raise WorkbenchError("reports are not served here: open the HTML file from the reports folder")
        source = self.state.workbench.report_html(self.listing.value)
        target = self.downloads / "reports" / f"{self.listing.value}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                os.link(source, target)
            except OSError:
                target.write_bytes(source.read_bytes())
        url = f"{self.downloads_url}/reports/{self.listing.value}.html"
        anchor = f"<a href='{url}' target='_blank' class='workbench-report-link'>"
        self.link.value = f"{anchor}open the report in a new tab</a>"
        self.status.ok(f"report {self.listing.value} is ready to open")
