"""Augment the current view: switch ops on and tune them (``RecipeEditor``), watch a preview of a
few images follow every change, then make a derived dataset as a job (its images linked to their
sources, the recipe and seed stored)."""

from __future__ import annotations

import ipywidgets as widgets

from workbench.errors import AugmentError
from workbench.jobs.records import SUCCEEDED, JobInfo
from workbench.jobs.widget import follow
from workbench.views import View
from workbench.widgets.common import WIDE, Status, figure_image, figure_png, guarded, show_png
from workbench.widgets.current import CurrentData
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.recipe import RecipeEditor
from workbench.widgets.state import DashboardState

DEFAULT_RECIPE = {
    "hflip": 0.5,
    "rotate": 15,
    "color_jitter": 0.2,
    "random_resized_crop": {"scale": [0.7, 1.0]},
}


class AugmentPanel(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.recipe = RecipeEditor(DEFAULT_RECIPE)
        self.seed = widgets.BoundedIntText(
            value=0, min=0, max=2**31 - 1, description="Seed", style=WIDE,
            tooltip="the same seed gives the same images; another seed, other random choices",
        )  # fmt: skip
        self.copies = widgets.BoundedIntText(
            value=2, min=1, max=50, description="Copies of each image", style=WIDE
        )
        self.name = widgets.Text(placeholder="new dataset name", description="Name")
        self.name.add_class("workbench-augment-name")
        self.preview_button = widgets.Button(description="Preview", icon="eye")
        self.create = widgets.Button(description="Create dataset", icon="clone", button_style="success")
        self.status = Status("augment")
        self.preview = figure_image()
        self.preview.add_class("workbench-augment-preview")
        self.job_area = widgets.VBox()
        preview = guarded(self.status)(lambda *_: self._preview())
        self.preview_button.on_click(preview)
        self.recipe.on_change(preview)  # the preview follows the controls: never stale
        self.seed.observe(preview, names="value")
        self.create.on_click(guarded(self.status)(lambda _: self._create()))
        super().__init__(
            [
                widgets.HBox([self.seed, self.copies]),
                widgets.HBox([self.name, self.preview_button, self.create, CurrentData(state, "Augmenting")]),
                self.status,
                self.job_area,
                widgets.HBox(
                    [
                        widgets.VBox([self.recipe], layout=widgets.Layout(min_width="460px")),
                        widgets.Box([self.preview], layout=widgets.Layout(flex="1 1 0%", min_width="0")),
                    ],
                    layout=widgets.Layout(align_items="flex-start"),
                ),
            ]
        )

    def _view(self) -> View:
        view = self.state.view()
        if view is None:
            raise AugmentError("choose or bring a dataset first (Data tab)")
        return view

    def _preview(self) -> None:
        view = self._view()
        figure = self.state.workbench.augment_preview(view, self.recipe.recipe(), n=6, seed=self.seed.value)
        show_png(self.preview, figure_png(figure))
        self.status.ok(f"preview: 6 images of {view.dataset!r} before and after")

    def _create(self) -> None:
        name = self.name.value.strip()
        view = self._view()
        job = self.state.workbench.augment(
            view, self.recipe.recipe(), copies=self.copies.value, seed=self.seed.value, name=name
        )
        self.job_area.children = [DashboardJob(job)]
        self.status.busy(f"writing {self.copies.value} copies of {view.count():,} images into {name!r}…")
        follow(job, lambda info: self._reading(info, name))

    def _reading(self, info: JobInfo, name: str) -> None:
        if not info.finished:
            return
        if info.state == SUCCEEDED:
            made = (info.result or {}).get("images")
            self.state.datasets_changed += 1
            made_words = f": {made:,} images" if made is not None else ""
            self.status.ok(f"dataset {name!r} made{made_words}; choose it in the Data tab to use it")
        else:
            self.status.error(f"augmentation {info.state}: {info.error or info.message}")
