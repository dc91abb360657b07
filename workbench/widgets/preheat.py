"""What every dashboard page needs and none should wait for, done in a preheated kernel before
its page is asked for (Voila runs the notebook up to ``page_parameters`` ahead of the request)."""

from __future__ import annotations

import io

from matplotlib.figure import Figure

from workbench.api import Workbench


def warmed_workbench() -> Workbench:
    """A ``Workbench`` with its catalog opened and queried once, after matplotlib has drawn a
    first figure: the first connection, the job kinds and matplotlib's font cache are then paid
    for before a person waits (the Statistics tab draws a figure for every page)."""
    bench = Workbench()
    bench.datasets()
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1], [0, 1])
    figure.savefig(io.BytesIO(), format="png")
    return bench
