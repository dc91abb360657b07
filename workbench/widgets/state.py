"""What the panels of one dashboard share: the workbench, the chosen dataset and filter, and
counters that tell panels to refresh. Panels observe these traits instead of calling each other."""

from __future__ import annotations

from typing import Any

from traitlets import Dict, HasTraits, Int, Unicode

from workbench.api import Workbench
from workbench.views import View


class DashboardState(HasTraits):
    dataset = Unicode(allow_none=True, default_value=None)
    spec = Dict()
    datasets_changed = Int(0)  # bumped after an ingest
    models_changed = Int(0)  # bumped after a training, a publish or a delete

    def __init__(self, workbench: Workbench, **traits: Any) -> None:
        super().__init__(**traits)
        self.workbench = workbench

    def view(self) -> View | None:
        if not self.dataset:
            return None
        return self.workbench.dataset(self.dataset).filter(self.spec)
