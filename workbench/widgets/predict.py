"""Try a model: upload a photo and see its top labels at once (in this kernel, ONNX Runtime), or
predict the whole current view as a job."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as widgets

from workbench.errors import WorkbenchError
from workbench.jobs.widget import JobWidget
from workbench.ml.predict import OnnxPredictor
from workbench.photos import open_photo
from workbench.widgets.common import Status, guarded
from workbench.widgets.current import CurrentData
from workbench.widgets.state import DashboardState


def bars_html(top: list[tuple[str, float]]) -> str:
    rows = "".join(
        f"<div style='display:flex;align-items:center;margin:2px 0'>"
        f"<span class='workbench-top-label' style='width:140px'>{html.escape(label)}</span>"
        f"<span style='background:#4c78a8;height:14px;width:{max(1, round(score * 300))}px'></span>"
        f"<span style='margin-left:6px'>{score:.1%}</span></div>"
        for label, score in top
    )
    return f"<div class='workbench-prediction'>{rows}</div>"


class PredictPanel(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.choice = widgets.Dropdown(description="Model", layout=widgets.Layout(width="520px"))
        self.photo = widgets.FileUpload(accept="image/*", multiple=False, description="Photo")
        self.photo.observe(self._photo_changed, names="value")
        self.preview = widgets.Image(layout=widgets.Layout(max_width="160px"))
        self.result = widgets.HTML()
        self.whole_view = widgets.Button(description="Predict the current view", icon="tasks")
        self.status = Status("predict")
        self.job_area = widgets.VBox()
        self.whole_view.on_click(guarded(self.status)(lambda _: self._predict_view()))
        state.observe(lambda _: self.refresh(), names="models_changed")
        super().__init__(
            [
                self.choice,
                widgets.HBox([self.photo, self.preview, self.result]),
                widgets.HBox([self.whole_view, CurrentData(state, "Predicting")]),
                self.status,
                self.job_area,
            ]
        )
        self._predictors: dict[int, OnnxPredictor] = {}
        self.refresh()

    def refresh(self) -> None:
        models = [m for m in self.state.workbench.models() if m["export_dir"]]
        options = [(f"{m['id']}: {m['name']} ({m['arch']})", m["id"]) for m in reversed(models)]
        self.choice.options = options
        if options and self.choice.value not in [value for _, value in options]:
            self.choice.value = options[0][1]  # the newest model

    def _photo_changed(self, change: dict) -> None:
        if change["new"]:
            guarded(self.status)(self._predict_photo)(bytes(change["new"][0]["content"]))

    def _predictor(self) -> OnnxPredictor:
        if self.choice.value is None:
            raise WorkbenchError("no model with an export yet: train one in the Train tab")
        if self.choice.value not in self._predictors:  # a session per model, reused
            row = self.state.workbench.model(self.choice.value)
            self._predictors[self.choice.value] = OnnxPredictor(Path(row.export_dir or ""))
        return self._predictors[self.choice.value]

    def _predict_photo(self, content: bytes) -> None:
        image = open_photo(content, self.state.workbench.settings.limits)  # ImageError: one line
        top = self._predictor().top_k(image, 5)
        self.preview.value = content
        self.result.value = bars_html(top)
        self.status.ok(f"predicted: {top[0][0]} ({top[0][1]:.1%})")

    def _predict_view(self) -> None:
        view = self.state.view()
        if view is None or self.choice.value is None:
            raise WorkbenchError("choose a dataset (Data tab) and a model first")
        job = self.state.workbench.predict(self.choice.value, view)
        self.job_area.children = [JobWidget(job)]
        self.status.busy(f"predicting {view.count():,} images as job {job.id[:12]}")
