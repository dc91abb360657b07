"""Train on the current view: choose the model and settings, start, watch the loss and accuracy
curves grow epoch by epoch, abort. A training already running is found again on a reload."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from workbench.errors import WorkbenchError
from workbench.jobs import QUEUED, RUNNING, Job, JobInfo
from workbench.jobs.records import SUCCEEDED
from workbench.jobs.widget import follow
from workbench.ml.config import TrainConfig
from workbench.ml.models import ARCHITECTURES
from workbench.widgets.common import WIDE, Status, figure_image, figure_png, guarded, show_png
from workbench.widgets.current import CurrentData, percent, view_words
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.state import DashboardState
from workbench.widgets.sweep import SweepPanel


def curves_figure(points: list[dict[str, float]]) -> Figure:
    """Loss (left) and validation accuracy (right) per epoch."""
    figure = Figure(figsize=(8, 2.8))
    loss, accuracy = figure.subplots(1, 2)
    epochs = [p["epoch"] for p in points]
    for key, style in (("train_loss", "-o"), ("val_loss", "--o")):
        if any(key in p for p in points):
            loss.plot(epochs, [p.get(key) for p in points], style, label=key.replace("_", " "))
    loss.set_xlabel("epoch")
    for axes in (loss, accuracy):
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.5
    loss.set_title("loss")
    loss.legend()
    accuracy.plot(epochs, [p.get("val_acc") for p in points], "-o", color="tab:green")
    accuracy.set_ylim(0, 1)
    accuracy.set_xlabel("epoch")
    accuracy.set_title("validation accuracy")
    figure.tight_layout()
    return figure


class TrainingPanel(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        default = TrainConfig()  # the one home of training defaults
        self.arch = widgets.Dropdown(options=list(ARCHITECTURES), value=default.arch, description="Model")
        self.epochs = widgets.BoundedIntText(
            value=default.epochs, min=1, max=200, description="Epochs", style=WIDE
        )
        self.epochs.add_class("workbench-epochs")
        sizes = sorted({32, 64, 96, 128, 224, default.image_size})
        self.image_size = widgets.Dropdown(
            options=sizes, value=default.image_size, description="Image size", style=WIDE
        )
        self.lr = widgets.FloatLogSlider(
            value=default.lr, base=10, min=-5, max=-1, description="Learning rate", style=WIDE
        )
        whole = {"indent": False, "layout": widgets.Layout(width="auto", margin="0 16px")}  # untruncated
        self.hflip = widgets.Checkbox(
            value=default.hflip, description="mirrored copies (not for digits or text)", **whole
        )
        self.augmented = widgets.Checkbox(
            value=False, description="add the dataset's augmented copies", **whole
        )
        self.start = widgets.Button(description="Start training", icon="play", button_style="success")
        self.start.add_class("workbench-start-training")
        self.status = Status("training")
        self.job_area = widgets.VBox()
        self.curves = figure_image()
        self.curves.add_class("workbench-curves")
        self.start.on_click(guarded(self.status)(lambda _: self._start()))
        self._points = 0
        self.sweep = widgets.Accordion(
            [SweepPanel(state, self.epochs, self.hflip)], titles=("Sweep: compare several",)
        )
        super().__init__(
            [
                widgets.HBox([self.arch, self.epochs, self.image_size]),
                widgets.HBox([self.lr, self.hflip, self.augmented]),
                widgets.HBox([self.start, CurrentData(state, "Training on")]),
                self.status,
                self.job_area,
                self.curves,
                self.sweep,
            ]
        )
        self.add_class("workbench-training")
        self._following: str | None = None
        self.reattach()

    def _start(self) -> None:
        view = self.state.view()
        if view is None:
            self.status.error("choose or bring a dataset first (Data tab)")
            return
        if len(view.labels()) < 2:  # said here in words, not by the job's check in code's words
            words = view_words(self.state.workbench, self.state.dataset, self.state.spec)
            raise WorkbenchError(
                f"Cannot train on {words}: a classifier needs two or more classes. "
                "Pick more labels in the Data tab."
            )
        job = self.state.workbench.train(
            view, arch=self.arch.value, epochs=self.epochs.value, image_size=self.image_size.value,
            lr=self.lr.value, hflip=self.hflip.value, augmented=self.augmented.value,
        )  # fmt: skip
        self.attach(job)

    def reattach(self) -> None:
        """A page reload starts a new kernel: find this user's training still under way."""
        bench = self.state.workbench
        for state in (RUNNING, QUEUED):
            found = bench.jobs(state=state, kind="train")
            if found and found[0].id != self._following:
                self.attach(bench.job(found[0].id))
                return

    def attach(self, job: Job) -> None:
        self._following = job.id
        self._points = 0
        show_png(self.curves, b"")
        self.job_area.children = [DashboardJob(job)]
        params = job.info().params
        self._show_settings(params)
        view = params.get("view") or {}
        words = view_words(self.state.workbench, view.get("dataset"), view.get("filter") or {})
        self.status.busy(f"training on {words}…")
        self.start.disabled = True
        follow(job, self._reading, interval=1.0)

    def _show_settings(self, params: dict[str, Any]) -> None:
        """The form shows what the followed job runs with (after a reload, not the defaults)."""
        default = TrainConfig()
        size = params.get("image_size", default.image_size)
        self.image_size.options = sorted({*self.image_size.options, size})
        self.image_size.value = size
        if params.get("arch", default.arch) in self.arch.options:  # a job from elsewhere may name another
            self.arch.value = params.get("arch", default.arch)
        self.epochs.value = params.get("epochs", default.epochs)
        self.lr.value = params.get("lr", default.lr)
        self.hflip.value = params.get("hflip", default.hflip)
        self.augmented.value = bool(params.get("augmented", False))

    def _reading(self, info: JobInfo) -> None:
        points = info.metrics.get("curves", {}).get("epochs", [])
        if len(points) != self._points:
            self._points = len(points)
            show_png(self.curves, figure_png(curves_figure(points)))
        if not info.finished:
            return
        self._following = None
        self.start.disabled = False
        if info.state == SUCCEEDED:
            result = info.result or {}
            name = self.state.workbench.model(result["model_id"]).name
            self.status.ok(f"model {name!r} trained: test accuracy {percent(result.get('accuracy'))}")
            self.state.models_changed += 1
        else:
            self.status.error(f"training {info.state}: {info.error or info.message}")
