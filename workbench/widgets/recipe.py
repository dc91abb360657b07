"""An augmentation recipe as controls, built from the op registry (``workbench.augment.OPS``): a
toggle per op and a slider or menu per parameter, so the valid ops and their ranges are on the
screen before any error. A new op in the registry gets its controls here without an edit."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets

from workbench.augment import OPS, Op, Param, Recipe
from workbench.widgets.common import WIDE

# People's names for the ops (an op missing here shows its own name, underscores as spaces)
OP_WORDS = {
    "random_resized_crop": "random crop", "hflip": "mirror left to right", "vflip": "mirror top to bottom",
    "rotate": "rotate", "color_jitter": "colour jitter", "grayscale": "turn grey", "blur": "blur",
    "cutout": "blank out squares",
}  # fmt: skip
PARAM_WORDS = {"p": "chance", "degrees": "up to degrees", "sigma": "blur radius (px)"}
_STEPS = 100


def _control(param: Param) -> widgets.ValueWidget:
    """The control for one parameter, its range the registry's: a slider fires on release only."""
    common: dict[str, Any] = {"description": PARAM_WORDS.get(param.name, param.name), "style": WIDE}
    if param.kind == "choice":
        return widgets.Dropdown(options=list(param.choices), value=param.default, **common)
    sliding = common | {"min": param.low, "max": param.high, "continuous_update": False}
    if param.kind == "integer":
        return widgets.IntSlider(value=param.default, **sliding)
    step = (param.high - param.low) / _STEPS
    if param.kind == "range":
        return widgets.FloatRangeSlider(value=list(param.default), step=step, **sliding)
    return widgets.FloatSlider(value=param.default, step=step, **sliding)


class OpControls(widgets.VBox):
    """One op: a toggle with the op's summary, and its parameters (shown while it is on)."""

    def __init__(self, op: Op) -> None:
        self.op = op
        self.on = widgets.Checkbox(
            value=False, description=OP_WORDS.get(op.name, op.name.replace("_", " ")), indent=False,
            layout=widgets.Layout(width="auto"),
        )  # fmt: skip
        self.on.add_class(f"workbench-op-{op.name}")
        self.params = {param.name: _control(param) for param in op.params}
        self.settings = widgets.VBox(list(self.params.values()), layout=widgets.Layout(margin="0 0 0 24px"))
        self.on.observe(lambda _: self._show_settings(), names="value")
        words = op.summary.replace("`", "") if op.summary != self.on.description else ""
        summary = widgets.HTML(f"<span style='color:#666'>{html.escape(words)}</span>")
        super().__init__([widgets.HBox([self.on, summary]), self.settings])
        self._show_settings()

    def _show_settings(self) -> None:
        self.settings.layout.display = None if self.on.value else "none"

    def value(self) -> dict[str, Any]:
        """The op's parameters (a range slider's tuple as the [lo, hi] list a recipe holds)."""
        return {
            name: list(c.value) if isinstance(c.value, tuple) else c.value for name, c in self.params.items()
        }

    def set(self, params: dict[str, Any] | None) -> None:
        """Switch the op on with ``params`` (its full parameters), or off with None."""
        self.on.value = params is not None
        for name, value in (params or {}).items():
            self.params[name].value = value


class RecipeEditor(widgets.VBox):
    def __init__(self, recipe: dict[str, Any]) -> None:
        self.ops = {name: OpControls(op) for name, op in OPS.items()}
        super().__init__(list(self.ops.values()))
        self.add_class("workbench-recipe")
        self.set(recipe)

    def recipe(self) -> dict[str, Any]:
        """The switched-on ops with their parameters (``Recipe.parse`` still checks it)."""
        return {name: controls.value() for name, controls in self.ops.items() if controls.on.value}

    def set(self, recipe: dict[str, Any]) -> None:
        ops = Recipe.parse(recipe).ops
        for name, controls in self.ops.items():
            controls.set(ops.get(name))

    def on_change(self, callback: Callable[[], None]) -> None:
        """``callback()`` after any toggle or parameter changes (a slider: once released)."""
        for controls in self.ops.values():
            for widget in (controls.on, *controls.params.values()):
                widget.observe(lambda _: callback(), names="value")
