"""A sweep from the Train tab: every combination of the ticked architectures, learning rates and
image sizes trained as one job (each training taking its turn in the queue), the best marked and
the group compared in a report at the end."""

from __future__ import annotations

import ipywidgets as widgets

from workbench.errors import WorkbenchError
from workbench.jobs import JobInfo
from workbench.jobs.records import SUCCEEDED
from workbench.jobs.widget import follow
from workbench.ml.config import TrainConfig
from workbench.ml.models import ARCHITECTURES
from workbench.sweeps import CPU_ARCHITECTURES
from workbench.widgets.common import WIDE, Status, guarded
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.state import DashboardState


def numbers(text: str, what: str, example: str) -> list[float]:
    try:
        values = [float(item) for item in text.replace(" ", "").split(",") if item]
    except ValueError:
        raise WorkbenchError(f"{what}: give numbers separated by commas, e.g. {example}") from None
    if not values:
        raise WorkbenchError(f"{what}: give at least one, e.g. {example}")
    return values


class SweepPanel(widgets.VBox):
    """``epochs`` and ``hflip``: the Train tab's own fields, the same for every training."""

    def __init__(
        self, state: DashboardState, epochs: widgets.BoundedIntText, hflip: widgets.Checkbox
    ) -> None:
        self.state, self.epochs, self.hflip = state, epochs, hflip
        default = TrainConfig()
        self.archs = widgets.SelectMultiple(
            options=list(ARCHITECTURES), value=CPU_ARCHITECTURES, description="Models", rows=5, style=WIDE
        )
        self.lrs = widgets.Text(value=f"{default.lr:g}", description="Learning rates", style=WIDE)
        self.sizes = widgets.Text(value=str(default.image_size), description="Image sizes", style=WIDE)
        self.start = widgets.Button(description="Start sweep", icon="th")
        self.start.add_class("workbench-start-sweep")
        self.status = Status("sweep")
        self.job_area = widgets.VBox()
        self.start.on_click(guarded(self.status)(lambda _: self._start()))
        intro = widgets.HTML(
            "Every combination is trained (with the epochs above), each taking its turn in the queue; "
            "at the end the best model is marked and a comparison report made (Reports tab)."
        )
        super().__init__(
            [intro, widgets.HBox([self.archs, widgets.VBox([self.lrs, self.sizes])]), self.start, self.status,
             self.job_area]
        )  # fmt: skip
        self.add_class("workbench-sweep")

    def _start(self) -> None:
        view = self.state.view()
        if view is None:
            self.status.error("choose or bring a dataset first (Data tab)")
            return
        if not self.archs.value:
            raise WorkbenchError("tick at least one model to sweep")
        lrs = numbers(self.lrs.value, "learning rates", "0.001, 0.01")
        sizes = [int(n) for n in numbers(self.sizes.value, "image sizes", "32, 64")]
        job = self.state.workbench.sweep(
            view, archs=list(self.archs.value), lrs=lrs, image_sizes=sizes, epochs=self.epochs.value,
            hflip=self.hflip.value,
        )  # fmt: skip
        self.job_area.children = [DashboardJob(job)]
        self.start.disabled = True
        self.status.busy("sweeping…")
        follow(job, self._reading, interval=2.0)

    def _reading(self, info: JobInfo) -> None:
        if not info.finished:
            return
        self.start.disabled = False
        if info.state == SUCCEEDED:
            self.status.ok(info.message + " (Reports tab)")
            self.state.models_changed += 1
        else:
            self.status.error(f"sweep {info.state}: {info.error or info.message}")
