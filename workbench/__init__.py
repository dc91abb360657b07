"""workbench: a Jupyter-centric workbench for image classification.

    import workbench as wb
    bench = wb.connect()
    bench.ingest("photos/", name="shirts")
    view = bench.dataset("shirts").filter(label=["Shirts", "Tshirts"], width__gte=60)
    view.count(), view.labels(), view.stats(), view.show(12)
    bench.train(view, epochs=8).wait()

``wb.connect()`` is the one entry point: every operation is a method of the ``Workbench`` it
returns. With no WORKBENCH_* variables set, everything runs on this machine (SQLite under
./.workbench); ``wb.connect(database_url=...)`` or the variables point it elsewhere.
"""

from __future__ import annotations

from typing import Any

from workbench.api import DatasetInfo, Workbench
from workbench.config import Settings
from workbench.errors import (
    AugmentError,
    CatalogError,
    ConfigError,
    FilterError,
    IngestError,
    JobError,
    NotFoundError,
    ParamsError,
    ReportError,
    TrainingError,
    WorkbenchError,
)
from workbench.jobs import Job, JobInfo
from workbench.views import View

__all__ = [
    "AugmentError",
    "CatalogError",
    "ConfigError",
    "DatasetInfo",
    "FilterError",
    "IngestError",
    "Job",
    "JobError",
    "JobInfo",
    "NotFoundError",
    "ParamsError",
    "ReportError",
    "Settings",
    "TrainingError",
    "View",
    "Workbench",
    "WorkbenchError",
    "connect",
]


def connect(settings: Settings | None = None, **overrides: Any) -> Workbench:
    """A Workbench on ``settings`` (default: from the environment), with ``overrides`` of its
    fields, e.g. ``wb.connect(database_url="postgresql://db-host/workbench")``."""
    base = settings or Settings.from_env()
    return Workbench(base.with_overrides(**overrides) if overrides else base)
