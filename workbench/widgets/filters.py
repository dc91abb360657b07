"""A filter panel built from the dataset's real columns and attributes: the values that exist,
with their counts, and range sliders for numbers."""

from __future__ import annotations

from typing import Any

import ipywidgets as widgets

from workbench.errors import WorkbenchError
from workbench.views.stats import Stats
from workbench.widgets.common import WIDE, Status, guarded
from workbench.widgets.state import DashboardState

_ANY = "(any)"


def _values(control: widgets.Dropdown | widgets.SelectMultiple) -> set[Any]:
    return {option[1] if isinstance(option, tuple) else option for option in control.options}


class FilterPanel(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.labels = widgets.SelectMultiple(
            description="Labels", rows=8, layout=widgets.Layout(width="420px"), style=WIDE
        )
        self.labels.add_class("workbench-filter-labels")
        self.split = widgets.Dropdown(description="Split", options=[_ANY])
        self.controls: dict[str, widgets.Widget] = {}
        self.extra = widgets.VBox()
        self.apply = widgets.Button(description="Apply filter", icon="filter", button_style="info")
        self.clear = widgets.Button(description="Clear", icon="times")
        self.status = Status("filter")
        self.apply.on_click(guarded(self.status)(lambda _: self._apply()))
        self.clear.on_click(guarded(self.status)(lambda _: self._clear()))
        state.observe(lambda _: self.rebuild(), names=["dataset", "datasets_changed"])
        hint = widgets.HTML(
            "<span style='color:#666;font-size:12px'>Ctrl-click (⌘-click on a Mac) to pick several</span>"
        )
        super().__init__(
            [self.labels, hint, self.split, self.extra, widgets.HBox([self.apply, self.clear]), self.status]
        )
        self.rebuild()

    def rebuild(self) -> None:
        """New controls for the chosen dataset, from the whole dataset's statistics."""
        if not self.state.dataset:
            return
        stats: Stats = self.state.workbench.dataset(self.state.dataset).stats()
        self.labels.options = [(f"{label} ({n:,})", label) for label, n in sorted(stats.labels.items())]
        self.split.options = [_ANY, *sorted(stats.splits)]
        self.controls = {}
        for name, values in stats.attributes.items():
            options = [(f"{v} ({n:,})", v) for v, n in values.items() if v != "(other)"]
            if len(options) > 1:
                self.controls[name] = widgets.SelectMultiple(
                    options=options, description=name, rows=min(5, len(options)), style=WIDE
                )
        for name, summary in stats.numeric.items():
            low, high = summary["min"], summary["max"]
            if low < high:
                slider = (
                    widgets.IntRangeSlider
                    if float(low).is_integer() and float(high).is_integer()
                    else (widgets.FloatRangeSlider)
                )
                self.controls[name] = slider(
                    value=(low, high), min=low, max=high, description=name, style=WIDE
                )
        self.extra.children = list(self.controls.values())
        self._show(self.state.spec)
        self.status.ok(f"{stats.count:,} images in {self.state.dataset!r}")

    def _show(self, spec: dict[str, Any]) -> None:
        """Set the controls to ``spec``: rebuilt after an ingest elsewhere, they keep the filter."""
        self.labels.value = tuple(v for v in spec.get("label", []) if v in _values(self.labels))
        self.split.value = spec.get("split", _ANY) if spec.get("split") in self.split.options else _ANY
        for name, control in self.controls.items():
            if isinstance(control, widgets.SelectMultiple):
                control.value = tuple(v for v in spec.get(name, []) if v in _values(control))
            else:
                control.value = (spec.get(f"{name}__gte", control.min), spec.get(f"{name}__lte", control.max))

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {}
        if self.labels.value:
            spec["label"] = list(self.labels.value)
        if self.split.value != _ANY:
            spec["split"] = self.split.value
        for name, control in self.controls.items():
            if isinstance(control, widgets.SelectMultiple) and control.value:
                spec[name] = list(control.value)
            elif isinstance(control, widgets.IntRangeSlider | widgets.FloatRangeSlider):
                low, high = control.value
                if low > control.min:
                    spec[f"{name}__gte"] = low
                if high < control.max:
                    spec[f"{name}__lte"] = high
        return spec

    def _apply(self) -> None:
        spec = self.spec()
        if self.state.dataset is None:
            raise WorkbenchError("choose or bring a dataset first")
        view = self.state.workbench.dataset(self.state.dataset).filter(spec)  # fails on a bad spec
        self.state.spec = spec
        self.status.ok(f"{view.count():,} images match")

    def _clear(self) -> None:
        self.state.spec = {}
        self.rebuild()
