"""Try a model: upload a photo and see its top labels at once (in this kernel, ONNX Runtime), or
predict the whole current view as a job."""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any
from urllib.parse import quote

import ipywidgets as widgets

from workbench import usage
from workbench.errors import WorkbenchError
from workbench.inference import view_predictions
from workbench.jobs.records import SUCCEEDED, JobInfo
from workbench.jobs.widget import follow
from workbench.ml.predict import OnnxPredictor
from workbench.photos import open_photo
from workbench.views import View
from workbench.widgets.common import Status, empty_state, guarded, show_png
from workbench.widgets.current import CurrentData, model_words, percent
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.state import DashboardState


def bars_html(top: list[tuple[str, float]]) -> str:
    rows = "".join(
        f"<div style='display:flex;align-items:center;margin:2px 0'>"
        f"<span class='workbench-top-label' style='width:140px'>{html.escape(label)}</span>"
        f"<span style='background:#4c78a8;height:14px;width:{max(1, round(score * 300))}px'></span>"
        f"<span style='margin-left:6px'>{percent(score)}</span></div>"
        for label, score in top
    )
    return f"<div class='workbench-prediction'>{rows}</div>"


def predictions_html(rows: list[dict[str, Any]]) -> str:
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>" for h in _COLUMNS.values())
    shown = [r | {"score": percent(r["score"])} for r in rows]  # the CSV keeps the fraction
    body = "".join(
        "<tr>"
        + "".join(f"<td style='padding:2px 8px'>{html.escape(str(r[k]))}</td>" for k in _COLUMNS)
        + "</tr>"
        for r in shown
    )
    return f"<table class='workbench-predictions'><tr>{head}</tr>{body}</table>"


_COLUMNS = {"image": "Image", "label": "Label", "predicted": "Predicted", "score": "Confidence"}
SHOWN = 20


class PredictPanel(widgets.VBox):
    """``downloads`` is a folder the page's server publishes at ``downloads_url``: a view's
    predictions are written there as a CSV when they are ready."""

    def __init__(self, state: DashboardState, downloads: Path | None = None, downloads_url: str = "") -> None:
        self.state = state
        self.downloads, self.downloads_url = downloads, downloads_url.rstrip("/")
        self.choice = widgets.Dropdown(description="Model", layout=widgets.Layout(width="520px"))
        self.photo = widgets.FileUpload(accept="image/*", multiple=False, description="Photo")
        self.photo.add_class("workbench-upload")
        self.photo.add_class("workbench-upload-photo")
        self.photo.observe(self._photo_changed, names="value")
        self.preview = widgets.Image(
            layout=widgets.Layout(width="96px", height="96px", object_fit="contain", display="none")
        )
        self.result = widgets.HTML()
        self.whole_view = widgets.Button(
            description="Predict the current view", icon="tasks", layout=widgets.Layout(width="auto")
        )
        self.status = Status("predict")
        self.job_area = widgets.VBox()
        self.predictions = widgets.HTML()
        self.whole_view.on_click(guarded(self.status)(lambda _: self._predict_view()))
        state.observe(lambda _: self.refresh(), names="models_changed")
        super().__init__(
            [
                self.choice,
                widgets.HBox([self.photo, self.preview, self.result]),
                widgets.HBox([self.whole_view, CurrentData(state, "Predicting")]),
                self.status,
                self.job_area,
                self.predictions,
            ]
        )
        self._predictors: dict[int, OnnxPredictor] = {}
        self.refresh()

    def refresh(self) -> None:
        models = [m for m in self.state.workbench.models() if m["export_dir"]]
        options = [(model_words(m), m["id"]) for m in reversed(models)]
        chosen = self.choice.value  # replacing the options moves the choice: put it back
        self.choice.options = options
        values = [value for _, value in options]
        self.choice.value = chosen if chosen in values else (values[0] if values else None)  # else the newest
        if not options:
            self.result.value = empty_state("No model to try yet: train one in the Train tab.")

    def _photo_changed(self, change: dict) -> None:
        if change["new"]:
            upload = change["new"][0]
            guarded(self.status)(self._predict_photo)(bytes(upload["content"]), repr(upload["name"]))

    def _predictor(self) -> OnnxPredictor:
        if self.choice.value is None:
            raise WorkbenchError("no model with an export yet: train one in the Train tab")
        if self.choice.value not in self._predictors:  # a session per model, reused
            export = self.state.workbench.export_folder(self.choice.value)  # fetched if trained elsewhere
            self._predictors[self.choice.value] = OnnxPredictor(export)
        return self._predictors[self.choice.value]

    def _predict_photo(self, content: bytes, name: str) -> None:
        image = open_photo(content, self.state.workbench.settings.limits, name)  # ImageError: one line
        top = self._predictor().top_k(image, 5)
        usage.record(self.state.workbench.catalog, self.choice.value, "dashboard", [top[0][1]])
        show_png(self.preview, content)
        self.result.value = bars_html(top)
        self.status.ok(f"predicted: {top[0][0]} ({percent(top[0][1])})")

    def _predict_view(self) -> None:
        view = self.state.view()
        if view is None or self.choice.value is None:
            raise WorkbenchError("choose a dataset (Data tab) and a model first")
        model_id = self.choice.value
        job = self.state.workbench.predict(model_id, view)
        self.job_area.children = [DashboardJob(job)]
        self.predictions.value = ""
        self.status.busy(f"predicting {view.count():,} images…")
        follow(job, lambda info: self._view_reading(info, model_id, view))

    def _view_reading(self, info: JobInfo, model_id: int, view: View) -> None:
        if not info.finished:
            return
        if info.state != SUCCEEDED:
            self.status.error(f"the prediction {info.state}: {info.error or info.message}")
            return
        rows = view_predictions(self.state.workbench.catalog, model_id, view)
        self.predictions.value = predictions_html(rows[:SHOWN]) + self._csv_link(rows, model_id, view)
        self.status.ok(
            f"{len(rows):,} images predicted" + (f"; the first {SHOWN} below" if len(rows) > SHOWN else "")
        )

    def _csv_link(self, rows: list[dict[str, Any]], model_id: int, view: View) -> str:
        """All the predictions as a CSV the browser downloads (when the page serves downloads)."""
        if self.downloads is None:
            return ""
        name = f"predictions-model{model_id}-{view.dataset}.csv"
        target = self.downloads / "predictions" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(_COLUMNS))
            writer.writeheader()
            writer.writerows(rows)
        url = html.escape(f"{self.downloads_url}/predictions/{quote(name)}")
        anchor = f"<a href='{url}' download class='workbench-predictions-csv'>"
        return f"<p>{anchor}Download all {len(rows):,} as CSV</a></p>"
