"""Small pieces every panel uses: figures as images, a status line the kernel writes, and button
handlers that show errors to people while the traceback goes to the log."""

from __future__ import annotations

import base64
import functools
import html
import io
import logging
from collections.abc import Callable
from typing import Any

import ipywidgets as widgets
from matplotlib.figure import Figure

from workbench.errors import WorkbenchError

log = logging.getLogger("workbench.widgets")


def figure_png(figure: Figure, dpi: int = 90) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def figure_image(figure: Figure | None = None, **layout: Any) -> widgets.Image:
    image = widgets.Image(format="png", layout=widgets.Layout(**({"max_width": "100%"} | layout)))
    show_png(image, figure_png(figure) if figure is not None else b"")
    return image


def show_png(image: widgets.Image, png: bytes) -> None:
    """An Image without a picture shows the browser's broken-image icon: hide it until it has one."""
    image.value = png
    image.layout.display = None if png else "none"


def empty_state(text: str) -> str:
    """What a panel shows with nothing to show: why, and the next step."""
    return f"<div class='workbench-empty' style='color:#555;padding:12px 0'>{html.escape(text)}</div>"


def help_tip(term: str, text: str) -> widgets.HTML:
    """A small "?" beside a term that explains it on hover (a widget's own tooltip is not shown
    on a Checkbox that has a description)."""
    tip = widgets.HTML(
        f"<span title='{html.escape(text, quote=True)}' style='cursor:help;color:#4c78a8'>"
        f"what is “{html.escape(term)}”?</span>"
    )
    tip.add_class("workbench-help")
    return tip


WIDE = {"description_width": "initial"}  # a description shown whole ("Learning rate", not "Learning r...")


def thumbnail_html(path: str, caption: str, size: int = 96) -> str:
    """An <img> with the file inlined: Voila serves no files from the data directory."""
    with open(path, "rb") as handle:
        data = base64.b64encode(handle.read()).decode()
    return (
        f"<figure style='margin:2px;width:{size}px;display:inline-block;text-align:center'>"
        f"<img src='data:image;base64,{data}' style='width:{size}px;height:{size}px;"
        f"object-fit:contain;image-rendering:pixelated;background:#f4f4f4'>"
        f"<figcaption style='font-size:11px;overflow:hidden;white-space:nowrap'>{html.escape(caption)}"
        "</figcaption></figure>"
    )


class Status(widgets.HTML):
    """One line the kernel itself updates after an action: people read it, and browser tests
    wait for it (a click can overtake a widget change still on its way to the kernel)."""

    def __init__(self, name: str) -> None:
        super().__init__(layout=widgets.Layout(min_height="1.5em"))
        self.add_class(f"workbench-status-{name}")

    def ok(self, text: str) -> None:
        self.value = f"<span class='workbench-ok'>{html.escape(text)}</span>"

    def busy(self, text: str) -> None:
        self.value = f"<span class='workbench-busy' style='color:#555'>{html.escape(text)}</span>"

    def error(self, text: str) -> None:
        self.value = f"<span class='workbench-error' style='color:#b00020'>{html.escape(text)}</span>"


def guarded(status: Status) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Run a widget callback; a WorkbenchError is shown as it is (it is written for people),
    anything else as a short line, with the traceback in the log and never on the page."""

    def wrap(handler: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                handler(*args, **kwargs)
            except WorkbenchError as exc:
                status.error(str(exc))
            except Exception as exc:
                log.exception("dashboard action %s failed", handler.__name__)
                status.error(f"something went wrong ({type(exc).__name__}); the details are in the log")

        return run

    return wrap
