"""workbench: a Jupyter-centric workbench for image classification.

    import workbench as wb
    wb.ingest("photos/", name="shirts")
    view = wb.dataset("shirts").filter(label=["Shirts", "Tshirts"], width__gte=60)
    view.count(), view.labels(), view.stats(), view.show(12)

With no WORKBENCH_* variables set, everything runs on this machine (SQLite under ./.workbench).
"""

from __future__ import annotations

from typing import Any

from workbench import jobs  # wb.jobs.submit / get / list / abort
from workbench.api import DatasetInfo, Workbench
from workbench.config import Settings
from workbench.errors import (
    CatalogError,
    ConfigError,
    FilterError,
    IngestError,
    JobError,
    NotFoundError,
    WorkbenchError,
)
from workbench.views import View

__all__ = [
    "CatalogError",
    "ConfigError",
    "DatasetInfo",
    "FilterError",
    "IngestError",
    "JobError",
    "NotFoundError",
    "Settings",
    "View",
    "Workbench",
    "WorkbenchError",
    "connect",
    "dataset",
    "datasets",
    "evaluate",
    "ingest",
    "ingest_job",
    "jobs",
    "model",
    "models",
    "predict",
    "train",
    "view",
]

_default: Workbench | None = None


def connect(settings: Settings | None = None, **overrides: Any) -> Workbench:
    """Use another catalog for the module-level functions (e.g. Postgres from a notebook)."""
    global _default
    base = settings or Settings.from_env()
    if _default is not None:
        _default.close()
    _default = Workbench(base.with_overrides(**overrides) if overrides else base)
    return _default


def _workbench() -> Workbench:
    return _default or connect()


def ingest(path: Any, name: str, **options: Any) -> Any:
    return _workbench().ingest(path, name, **options)


def ingest_job(path: Any, name: str, **options: Any) -> Any:
    return _workbench().ingest_job(path, name, **options)


def dataset(name: str) -> View:
    return _workbench().dataset(name)


def datasets() -> list[DatasetInfo]:
    return _workbench().datasets()


def view(spec: Any) -> View:
    return _workbench().view(spec)


def train(view: Any, **params: Any) -> Any:
    return _workbench().train(view, **params)


def predict(model_id: int, view: Any, **params: Any) -> Any:
    return _workbench().predict(model_id, view, **params)


def evaluate(model_id: int, view: Any) -> Any:
    return _workbench().evaluate(model_id, view)


def models() -> list[dict[str, Any]]:
    return _workbench().models()


def model(model_id: int) -> Any:
    return _workbench().model(model_id)


ingest.__doc__ = Workbench.ingest.__doc__
train.__doc__ = Workbench.train.__doc__
predict.__doc__ = Workbench.predict.__doc__
evaluate.__doc__ = Workbench.evaluate.__doc__
models.__doc__ = Workbench.models.__doc__
model.__doc__ = Workbench.model.__doc__
ingest_job.__doc__ = Workbench.ingest_job.__doc__
dataset.__doc__ = Workbench.dataset.__doc__
view.__doc__ = Workbench.view.__doc__
