"""A matplotlib figure that a notebook shows as an image.

Our figures are made without pyplot (no global state, safe in workers), so IPython has no
formatter for them unless the inline backend happens to be loaded: a cell printed
``<Figure size 640x340 with 8 Axes>``. ``Plot`` carries its own PNG instead, and is still a
Figure for everything else (``savefig``, axes).
"""

from __future__ import annotations

import io

from matplotlib.figure import Figure

NOTEBOOK_DPI = 90


class Plot(Figure):
    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=NOTEBOOK_DPI, bbox_inches="tight")
        return buffer.getvalue()

    def __repr__(self) -> str:
        title = self.get_suptitle() or next((ax.get_title() for ax in self.axes if ax.get_title()), "")
        return f"<Plot {title!r}>" if title else "<Plot>"
