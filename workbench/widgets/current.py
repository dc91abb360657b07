"""The data an action will use, in words, beside its button: "Training on shapes, label in
{circle, triangle}: 120 images, 2 classes". Every panel acts on the current view, so each one
says which it is before a click (issue 16: the dashboard once trained on the wrong images)."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as widgets

from workbench.api import Workbench
from workbench.errors import WorkbenchError
from workbench.widgets.state import DashboardState


def percent(fraction: float | None) -> str:
    """0.6667 as '66.7 %'."""
    return "" if fraction is None else f"{fraction * 100:.1f} %"


_OPERATORS = {"eq": "=", "in": "in", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "contains": "contains"}


def filter_words(spec: dict[str, Any]) -> str:
    """``{"label": ["a", "b"], "width__gte": 64}`` as "label in {a, b}, width ≥ 64"."""
    parts = []
    for key, value in spec.items():
        field, _, op = key.partition("__")
        if op == "exists":
            parts.append(f"{field} {'set' if value else 'not set'}")
        elif isinstance(value, list | tuple):
            parts.append(f"{field} in {{{', '.join(str(v) for v in value)}}}")
        else:
            parts.append(f"{field} {_OPERATORS.get(op or 'eq', op)} {value}")
    return ", ".join(parts)


def view_words(workbench: Workbench, dataset: str | None, spec: dict[str, Any]) -> str:
    """A view in words: 'shapes, label in {circle, triangle}: 120 images, 2 classes'."""
    if not dataset:
        return "no dataset chosen yet: choose or bring one in the Data tab"
    try:
        view = workbench.dataset(dataset).filter(spec)
        count, classes = view.count(), len(view.labels())
    except WorkbenchError as exc:
        return str(exc)
    where = f", {filter_words(spec)}" if spec else ""
    plural = "" if classes == 1 else "es"
    return f"{dataset}{where}: {count:,} images, {classes} class{plural}"


def model_words(model: dict[str, Any]) -> str:
    """A model as a person tells it apart: name, accuracy, when (its id last, for the CLI)."""
    accuracy = percent(model["metrics"].get("accuracy"))
    shared = f"; {model['owner']}'s, read-only" if model.get("owner") else ""
    return f"{model['name']} ({model['arch']}, {accuracy} accurate, model {model['id']}{shared})"


class CurrentData(widgets.HTML):
    """One line that follows the current view: ``CurrentData(state, "Training on")``."""

    def __init__(self, state: DashboardState, verb: str) -> None:
        super().__init__(layout=widgets.Layout(margin="0 0 0 8px"))
        self.add_class("workbench-current")
        self.state, self.verb = state, verb
        state.observe(lambda _: self.refresh(), names=["dataset", "spec", "datasets_changed"])
        self.refresh()

    def refresh(self) -> None:
        words = html.escape(view_words(self.state.workbench, self.state.dataset, self.state.spec))
        self.value = f"<span style='color:#333'>{html.escape(self.verb)} <b>{words}</b></span>"
