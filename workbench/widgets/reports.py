"""Reports: make one for the current dataset or a model (a job), list them, open one in a tab."""

from __future__ import annotations

import json
import os
from pathlib import Path

import ipywidgets as widgets

from workbench.errors import WorkbenchError
from workbench.jobs.records import SUCCEEDED, JobInfo
from workbench.jobs.widget import follow
from workbench.widgets.common import Status, guarded
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.state import DashboardState


class ReportsPanel(widgets.VBox):
    """Opening a report hard-links its HTML into ``downloads`` (what the page's server
    publishes at ``downloads_url``), like the Models panel's files."""

    def __init__(self, state: DashboardState, downloads: Path | None = None, downloads_url: str = "") -> None:
        self.state = state
        self.downloads, self.downloads_url = downloads, downloads_url.rstrip("/")
        self.kind = widgets.Dropdown(
            options=[("dataset (the current view)", "dataset"), ("model (the newest)", "model")],
            description="Report",
        )
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
                widgets.HBox([self.kind, self.make]),
                self.status,
                self.job_area,
                widgets.HBox([self.listing, self.open_button]),
                self.link,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        reports = self.state.workbench.reports()
        self.listing.options = [
            (f"{r['id']}: {r['kind']} {json.dumps(r['params'])} — {str(r['created_at'])[:16]}", r["id"])
            for r in reports
        ]

    def _make(self) -> None:
        if self.kind.value == "dataset":
            if not self.state.dataset:
                raise WorkbenchError("choose or bring a dataset first (Data tab)")
            params = {"dataset": self.state.dataset, "filter": self.state.spec}
        else:
            models = self.state.workbench.models()
            if not models:
                raise WorkbenchError("no models yet: train one in the Train tab")
            params = {"model_id": models[-1]["id"]}
        job = self.state.workbench.report_job(self.kind.value, params)
        self.job_area.children = [DashboardJob(job)]
        self.status.busy(f"making the {self.kind.value} report…")
        follow(job, self._reading)

    def _reading(self, info: JobInfo) -> None:
        if not info.finished:
            return
        if info.state == SUCCEEDED:
            report_id = (info.result or {}).get("report_id")
            self.status.ok(f"report {report_id} ready")
            self.refresh()
            self.listing.value = report_id
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
        self.link.value = f"{anchor}open report {self.listing.value}</a>"
        self.status.ok(f"report {self.listing.value} is ready to open")
