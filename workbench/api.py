"""The small Python API a notebook uses: ``wb.ingest``, ``wb.dataset``, ``wb.datasets``."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from workbench.catalog import Catalog, Dataset, Image
from workbench.config import Settings
from workbench.ingest import IngestReport, Progress
from workbench.ingest import ingest as run_ingest
from workbench.jobs import Job, Jobs
from workbench.views import View


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str
    images: int
    labels: int
    parent: str | None
    created_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}


class Workbench:
    """A connection to one catalog as one user; the module-level functions use a default one."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.catalog = Catalog(self.settings)

    def ingest(
        self,
        path: str | Path,
        name: str,
        *,
        labels_csv: str | Path | None = None,
        label_column: str | None = None,
        id_column: str = "id",
        split: str | None = None,
        seed: int = 0,
        progress: Progress | None = None,
        processes: int | None = None,
    ) -> IngestReport:
        """Bring a folder or zip of labelled images (optionally with a CSV) into the catalog."""
        return run_ingest(
            self.catalog,
            path,
            name,
            labels_csv=labels_csv,
            label_column=label_column,
            id_column=id_column,
            split=split,
            seed=seed,
            progress=progress,
            processes=processes,
        )

    @property
    def jobs(self) -> Jobs:
        """Submit and follow jobs: ``.submit(kind, params)``, ``.get(id)``, ``.list()``."""
        return Jobs(self.catalog)

    def ingest_job(self, path: str | Path, name: str, **options: Any) -> Job:
        """The same ingest as a job on a worker (the imagery queue): returns at once; the job
        displays as a live widget in a notebook, ``.wait()`` blocks."""
        params = {"path": str(Path(path).absolute()), "name": name, **options}
        if params.get("labels_csv") is not None:
            params["labels_csv"] = str(Path(params["labels_csv"]).absolute())
        return self.jobs.submit("ingest", params)

    def train(self, view: View | str, **params: Any) -> Job:
        """Train a classifier on ``view`` (a View or a dataset name) as a job on the torch worker.

        ``params``: arch (resnet18), epochs, batch_size, lr, image_size, seed, pretrained,
        precision ("auto": bf16 where the CPU has it, "32-true" or "bf16-mixed"), hflip (False
        for digits or text), name,
        freeze_epochs (fine-tune: only the head learns for that many epochs, then everything),
        int8 (also export a static int8 ``model.int8.onnx``, scored on the test images), augmented
        (True, or names of the dataset's augmented datasets: their copies of the training images
        join the training split; the model records them).
        """
        if isinstance(view, str):
            view = self.dataset(view)
        return self.jobs.submit("train", {"view": json.loads(view.to_json()), **params})

    def predict(self, model_id: int, view: View | str, **params: Any) -> Job:
        """Predict every image of ``view`` with model ``model_id`` (ONNX Runtime, a job on the
        inference queue); predictions are upserted per (model, image)."""
        if isinstance(view, str):
            view = self.dataset(view)
        return self.jobs.submit(
            "predict", {"model_id": model_id, "view": json.loads(view.to_json()), **params}
        )

    def evaluate(self, model_id: int, view: View | str) -> Job:
        """Evaluate model ``model_id`` on ``view`` (a job): accuracy, per class, confusion,
        per attribute; stored with the model under ``metrics["evaluations"]``."""
        if isinstance(view, str):
            view = self.dataset(view)
        return self.jobs.submit("evaluate", {"model_id": model_id, "view": json.loads(view.to_json())})

    def models(self) -> list[dict[str, Any]]:
        """Your models, oldest first, with their headline metrics and export directory."""
        from workbench.training import list_models

        return list_models(self.catalog)

    def model(self, model_id: int) -> Any:
        """One model's catalog row: metrics (confusion, per class, per attribute...), classes,
        the exact training image ids, checkpoint and export paths."""
        from workbench.training import get_model

        return get_model(self.catalog, model_id)

    def dataset(self, name: str) -> View:
        """The whole dataset as a View; narrow it with ``.filter(...)``."""
        return View(self.catalog, name)

    def view(self, spec: str | dict[str, Any]) -> View:
        """A View from its JSON form ``{"dataset": NAME, "filter": {...}}``."""
        return View.from_json(self.catalog, spec)

    def datasets(self) -> list[DatasetInfo]:
        parent = Dataset.__table__.alias("parent")
        query = (
            select(
                Dataset.name,
                Dataset.kind,
                func.count(Image.id),
                func.count(Image.label.distinct()),
                parent.c.name,
                Dataset.created_at,
            )
            .outerjoin(Image, Image.dataset_id == Dataset.id)
            .outerjoin(parent, parent.c.id == Dataset.parent_id)
            .where(Dataset.owner == self.catalog.user, Dataset.status == "ready")
            .group_by(Dataset.id, parent.c.name)
            .order_by(Dataset.name)
        )
        with self.catalog.sessions() as session:
            return [DatasetInfo(*row) for row in session.execute(query).all()]

    def close(self) -> None:
        self.catalog.dispose()
