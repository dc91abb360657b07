"""ipywidgets components: each works alone in JupyterLab, and ``Dashboard`` composes them for
Voila. Panels share a ``DashboardState`` (dataset, filter) and never call each other.

    from workbench.widgets import Dashboard
    Dashboard()                       # every tab
    FilterPanel(DashboardState(wb))   # or one piece
"""

from workbench.widgets.augment import AugmentPanel
from workbench.widgets.dashboard import Dashboard
from workbench.widgets.datasets import DatasetPicker
from workbench.widgets.filters import FilterPanel
from workbench.widgets.gallery import Gallery
from workbench.widgets.models import ModelsPanel
from workbench.widgets.predict import PredictPanel
from workbench.widgets.reports import ReportsPanel
from workbench.widgets.state import DashboardState
from workbench.widgets.stats import StatsPanel
from workbench.widgets.training import TrainingPanel

__all__ = [
    "AugmentPanel",
    "Dashboard",
    "DashboardState",
    "DatasetPicker",
    "FilterPanel",
    "Gallery",
    "ModelsPanel",
    "PredictPanel",
    "ReportsPanel",
    "StatsPanel",
    "TrainingPanel",
]
