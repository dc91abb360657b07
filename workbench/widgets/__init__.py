"""ipywidgets components: each works alone in JupyterLab, and ``Dashboard`` composes them for
Voila. Panels share a ``DashboardState`` (dataset, filter) and never call each other.

    from workbench.widgets import Dashboard
    Dashboard()                       # every tab
    FilterPanel(DashboardState(wb))   # or one piece

Each name is imported on first use: ``workbench dashboard`` imports ``workbench.widgets.serve``
to start Voila, and must not wait for ipywidgets and matplotlib first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.widgets.augment import AugmentPanel as AugmentPanel
    from workbench.widgets.dashboard import Dashboard as Dashboard
    from workbench.widgets.datasets import DatasetPicker as DatasetPicker
    from workbench.widgets.filters import FilterPanel as FilterPanel
    from workbench.widgets.gallery import Gallery as Gallery
    from workbench.widgets.models import ModelsPanel as ModelsPanel
    from workbench.widgets.predict import PredictPanel as PredictPanel
    from workbench.widgets.reports import ReportsPanel as ReportsPanel
    from workbench.widgets.state import DashboardState as DashboardState
    from workbench.widgets.stats import StatsPanel as StatsPanel
    from workbench.widgets.training import TrainingPanel as TrainingPanel

_MODULES = {
    "AugmentPanel": "augment",
    "Dashboard": "dashboard",
    "DashboardState": "state",
    "DatasetPicker": "datasets",
    "FilterPanel": "filters",
    "Gallery": "gallery",
    "ModelsPanel": "models",
    "PredictPanel": "predict",
    "ReportsPanel": "reports",
    "StatsPanel": "stats",
    "TrainingPanel": "training",
}
__all__ = list(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"workbench.widgets.{_MODULES[name]}"), name)
