"""The one entry point for every operation: ``bench = wb.connect()``, then ``bench.<verb>(...)``.

Each method is a thin door onto the module that does the work (ingest, views, derive, training,
inference, registry, reports, jobs); the CLI, the widgets and the REST API all go through here.
Heavy work returns a ``Job`` at once; ``job.wait()`` blocks.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, func, select

from workbench import registry, reports, sharing, tokens
from workbench.catalog import Catalog, Dataset, Image, datasets, shares
from workbench.catalog.datasets import DatasetStatus
from workbench.catalog.display import card, listing, percent, when
from workbench.catalog.models import Model
from workbench.catalog.shares import DATASET, MODEL
from workbench.config import Settings
from workbench.errors import NotFoundError, ReadOnlyError, ReportError
from workbench.ingest import IngestReport, Progress
from workbench.ingest import ingest as run_ingest
from workbench.jobs import client
from workbench.jobs.client import Job
from workbench.jobs.records import JobInfo
from workbench.kinds import load_kinds
from workbench.views import View

if TYPE_CHECKING:
    from workbench.ml.plot import Plot


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str
    images: int
    labels: int
    parent: str | None
    created_at: dt.datetime
    owner: str | None = None  # another user's, shared with you read-only ("owner/name"); None: yours

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "created_at": self.created_at.isoformat()}

    def __repr__(self) -> str:
        return f"<Dataset {self.name!r}: {self.images:,} images, {self.labels} labels>"

    def _repr_html_(self) -> str:
        return card("dataset", f"Dataset {self.name}", _dataset_facts(self))


class DatasetList(list[DatasetInfo]):
    """``bench.datasets()``: a list, shown in a notebook as a table."""

    def _repr_html_(self) -> str:
        rows = [{"name": d.name, **_dataset_facts(d)} for d in self]
        return listing("datasets", rows, "No datasets yet: bench.ingest(FOLDER, NAME) brings some in.")


def _dataset_facts(info: DatasetInfo) -> dict[str, str]:
    kind = f"{info.kind} from {info.parent}" if info.parent else info.kind
    return {
        "images": f"{info.images:,}",
        "labels": str(info.labels),
        "kind": kind,
        "created": when(info.created_at),
        **({"shared by": f"{info.owner} (read-only)"} if info.owner else {}),
    }


class ModelList(list[dict[str, Any]]):
    """``bench.models()``: a list of summaries, shown in a notebook as a table."""

    def _repr_html_(self) -> str:
        rows = [
            {"model": m["id"], "name": m["name"], "test accuracy": percent(m["metrics"].get("accuracy")),
             "classes": m["classes"], "training images": f"{m['train_images']:,}",
             "published": "yes" if m["published"] else "no"}
            for m in self
        ]  # fmt: skip
        return listing("models", rows, "No models yet: bench.train(DATASET) trains one.")


class ReportRecord(dict[str, Any]):
    """A report's record (``html_path``...), shown in a notebook as a link to its page."""

    def __repr__(self) -> str:
        return f"<Report {self['id']}: {self['kind']} report, {self['html_path']}>"

    def _repr_html_(self) -> str:
        subject = reports.describe_subject(self["params"])
        where = self["html_path"]  # a file here, or an s3:// key (Workbench.report_html fetches it)
        uri = where if "://" in where else Path(where).absolute().as_uri()
        link = f"<a href='{html.escape(uri)}' target='_blank'>open the report</a>"
        made = (self["created_at"] or "—")[:16].replace("T", " ")
        facts = {"about": subject, "made": made, "file": self["html_path"]}
        return card("report", f"{self['kind'].capitalize()} report {self['id']}", facts, extra_html=link)


def _dataset_rows(*where: ColumnElement[bool]) -> Select[Any]:
    """Ready datasets matching ``where``: name, kind, images, labels, parent, created, owner."""
    parent = Dataset.__table__.alias("parent")
    return (
        select(
            Dataset.name, Dataset.kind, func.count(Image.id), func.count(Image.label.distinct()),
            parent.c.name, Dataset.created_at, Dataset.owner,
        )
        .outerjoin(Image, Image.dataset_id == Dataset.id)
        .outerjoin(parent, parent.c.id == Dataset.parent_id)
        .where(Dataset.status == DatasetStatus.READY, *where)
        .group_by(Dataset.id, parent.c.name)
    )  # fmt: skip


class Workbench:
    """A connection to one catalog as one user."""

    def __init__(self, settings: Settings | None = None, *, catalog: Catalog | None = None) -> None:
        """From the settings (the environment by default), or on a ``catalog`` already open (the
        REST API's, acting as the caller)."""
        self.catalog = catalog or Catalog(settings or Settings.from_env())
        self.settings = self.catalog.settings
        load_kinds(self.settings.job_modules)

    # -- datasets --------------------------------------------------------------------------------
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
        append: bool = False,
    ) -> IngestReport:
        """Bring a folder or zip of labelled images (optionally with a CSV) into the catalog, here.
        Into a dataset that exists already only with ``append=True``."""
        return run_ingest(
            self.catalog, path, name, labels_csv=labels_csv, label_column=label_column,
            id_column=id_column, split=split, seed=seed, progress=progress, processes=processes,
            append=append,
        )  # fmt: skip

    def ingest_job(
        self, path: str | Path, name: str, *, then_predict: int | str | None = None, **options: Any
    ) -> Job:
        """The same ingest as a job on a worker (the imagery queue). ``options``: those of
        ``ingest`` but ``progress``; the paths must be readable where the worker runs.
        ``then_predict``: a model (id, your model's name or a published one's) to predict the
        dataset with once the ingest succeeds; the job returned stands for both steps."""
        params = {"path": _as_job_path(path), "name": name, **options}
        if params.get("labels_csv") is not None:
            params["labels_csv"] = _as_job_path(params["labels_csv"])
        return client.submit(self.catalog, "ingest", params, then=self._then_predict(then_predict, name))

    def share(self, path: Path) -> str:
        """A file or folder under the data directory (a dashboard upload, say), made readable by
        the workers of every host: copied to the object store when one is configured. Returns
        the path to give a job (its reference in the store; the path itself without one)."""
        store = self.catalog.store
        for file in [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file()):
            store.publish(file)
        return store.reference(path)

    def dataset(self, name: str) -> View:
        """The whole dataset as a View; narrow it with ``.filter(...)``."""
        return View(self.catalog, name)

    def view(self, spec: str | dict[str, Any]) -> View:
        """A View from its JSON form ``{"dataset": NAME, "filter": {...}}``."""
        return View.from_json(self.catalog, spec)

    def datasets(self) -> DatasetList:
        """Your datasets, by name, with their image and label counts; then those shared with you
        (``owner/name``, read-only)."""
        user = self.catalog.user
        with self.catalog.sessions() as session:
            own = session.execute(_dataset_rows(Dataset.owner == user).order_by(Dataset.name)).all()
            shared = _dataset_rows(
                Dataset.owner != user, Dataset.id.in_(shares.shared_ids(self.catalog, session, DATASET))
            )
            others = session.execute(shared.order_by(Dataset.owner, Dataset.name)).all()
        return DatasetList(
            [DatasetInfo(name, kind, n, labels, parent, at) for name, kind, n, labels, parent, at, _ in own]
            + [
                DatasetInfo(f"{owner}/{name}", kind, n, labels, parent, at, owner)
                for name, kind, n, labels, parent, at, owner in others
            ]
        )

    def delete_dataset(self, name: str) -> int:
        """Delete your dataset ``name`` with its images; returns how many. Models trained on it
        keep their files and metrics. One shared with you is refused."""
        return datasets.delete_dataset(self.catalog, name)

    # -- sharing ---------------------------------------------------------------------------------
    def share_dataset(self, name: str, with_: list[str]) -> list[str]:
        """Let the named users (or a team's group) read dataset ``name``: they see it as
        ``you/name``, read-only. Returns everyone it is shared with."""
        return sharing.share(self.catalog, DATASET, self._own_dataset_id(name), with_)

    def unshare_dataset(self, name: str, with_: list[str]) -> None:
        sharing.unshare(self.catalog, DATASET, self._own_dataset_id(name), with_)

    def share_model(self, model_id: int, with_: list[str]) -> list[str]:
        """Let the named users read model ``model_id`` (its metrics, its export, predictions)."""
        return sharing.share(self.catalog, MODEL, model_id, with_)

    def unshare_model(self, model_id: int, with_: list[str]) -> None:
        sharing.unshare(self.catalog, MODEL, model_id, with_)

    def _own_dataset_id(self, name: str) -> int:
        with self.catalog.sessions() as session:
            row = self.catalog.find_dataset(session, name)
            if row is None:
                shared = self.catalog.dataset_row(session, name)  # else NotFoundError naming yours
                raise ReadOnlyError.shared(f"dataset {name!r}", shared.owner)
            return row.id

    # -- augmentation ----------------------------------------------------------------------------
    def augment_preview(self, view: View, recipe: Any, n: int = 8, seed: int = 0, copies: int = 1) -> Plot:
        """A before/after grid of ``recipe`` on ``n`` sampled images, computed here (no job): the
        copies shown are exactly what ``augment`` with the same seed stores."""
        from workbench.views.preview import augment_preview

        return augment_preview(view, recipe, n=n, seed=seed, copies=copies)

    def augment(
        self, view: View, recipe: Any, *, name: str, copies: int = 1, seed: int = 0,
        then_predict: int | str | None = None, **options: Any,
    ) -> Job:  # fmt: skip
        """A job on the imagery queue writing ``copies`` augmented copies of every image of
        ``view`` into a new dataset ``name`` (kind ``augmented``, linked to the view's dataset).
        ``then_predict``: a model to predict the new dataset with once it is made (as ``ingest_job``)."""
        raw = {"view": _spec(view), "recipe": recipe, "copies": copies, "seed": seed, "name": name}
        then = self._then_predict(then_predict, name)
        return client.submit(self.catalog, "augment", {**raw, **options}, then=then)

    # -- training and inference --------------------------------------------------------------------
    def train(self, view: View | str, **params: Any) -> Job:
        """Train a classifier on ``view`` (a View or a dataset name) as a job on the torch worker.
        ``params``: those of ``TrainConfig`` (arch, epochs, batch_size, lr, image_size, seed,
        precision, hflip, freeze_epochs...; ``workbench train --help`` lists them), and name,
        augmented (True, or names of the dataset's augmented datasets whose copies of training
        images join the training split), int8 (also export ``model.int8.onnx``)."""
        return self.submit("train", {"view": _spec(self._view(view)), **params})

    def sweep(
        self, view: View | str, *, archs: list[str] | None = None, lrs: list[float] | None = None,
        image_sizes: list[int] | None = None, name: str | None = None, **train: Any,
    ) -> Job:  # fmt: skip
        """Train every combination of ``archs`` (resnet18, mobilenet_v3_small, efficientnet_b0...),
        learning rates and image sizes on ``view`` as one job, each training taking its turn in
        the queue; then the group's comparison report, and the best model marked
        (``metrics["sweep"]["best"]``). ``train``: the rest of ``TrainConfig``, the same for all."""
        params: dict[str, Any] = {"view": _spec(self._view(view)), "name": name, "train": train}
        for key, values in (("archs", archs), ("lrs", lrs), ("image_sizes", image_sizes)):
            if values is not None:
                params[key] = list(values)
        return self.submit("sweep", params)

    def predict(self, model_id: int, view: View | str, **params: Any) -> Job:
        """Predict every image of ``view`` with model ``model_id`` (ONNX Runtime, a job on the
        inference queue); predictions are upserted per (model, image)."""
        return self.submit("predict", {"model_id": model_id, "view": _spec(self._view(view)), **params})

    def _then_predict(self, model: int | str | None, dataset: str) -> tuple[str, dict[str, Any]] | None:
        """A chain's second step: predict the dataset the first step makes with ``model``, which
        must exist and have an export now (the dataset is checked when the step starts)."""
        if model is None:
            return None
        row = registry.find_model(self.catalog, model)
        if not row.export_dir:
            raise NotFoundError(f"model {row.id} ({row.name}) has no ONNX export to predict with")
        return "predict", {"model_id": row.id, "view": {"dataset": dataset}}

    def evaluate(self, model_id: int, view: View | str) -> Job:
        """Evaluate model ``model_id`` on ``view`` (a job): accuracy, per class, confusion,
        per attribute; stored with the model under ``metrics["evaluations"]``."""
        return self.submit("evaluate", {"model_id": model_id, "view": _spec(self._view(view))})

    # -- the model registry -------------------------------------------------------------------------
    def models(self) -> ModelList:
        """Your models, oldest first, with their headline metrics and export directory."""
        return ModelList(registry.list_models(self.catalog))

    def model(self, model_id: int) -> Model:
        """One model: metrics (confusion, per class, per attribute...), classes, the exact
        training image ids, checkpoint and export paths."""
        return registry.get_model(self.catalog, model_id)

    def export_folder(self, model_id: int) -> Path:
        """The model's ONNX export (model.onnx, labels.json, preprocess.json) as a folder on this
        machine, fetched from the object store when it was trained on another host."""
        return registry.export_folder(self.catalog, self.model(model_id))

    def export_web(
        self, model_id: int, folder: str | Path, *, int8: bool = False, threads: bool = False
    ) -> Path:
        """Model ``model_id`` as an offline web app in ``folder`` (serve it over HTTP; its
        README.txt says how). ``int8``: ship the int8 export; ``threads``: where allowed."""
        from workbench.web import export_web

        return export_web(self.catalog, model_id, Path(folder), int8=int8, threads=threads)

    def import_head(
        self, model_id: int, head: str | Path | dict[str, Any], *, name: str | None = None
    ) -> int:
        """A head personalised in model ``model_id``'s web app (its ``head.json``) as a new
        model: the same backbone, the new final layer. Returns the new model's id."""
        from workbench.web import import_head

        return import_head(self.catalog, model_id, Path(head) if isinstance(head, str) else head, name=name)

    def publish(self, model_id: int) -> None:
        registry.publish(self.catalog, model_id)

    def unpublish(self, model_id: int) -> None:
        registry.unpublish(self.catalog, model_id)

    def delete_model(self, model_id: int) -> None:
        """Delete a model with its files (checkpoints and export)."""
        registry.delete_model(self.catalog, model_id)

    def compare(self, model_ids: list[int]) -> list[dict[str, Any]]:
        """One row of metrics per model, and whether each saw exactly the first one's images."""
        return registry.compare_models(self.catalog, model_ids)

    # -- reports ------------------------------------------------------------------------------------
    def report(
        self, kind: str, params: dict[str, Any] | None = None, *, keep: int | None = None
    ) -> ReportRecord:
        """Make a report and return its record (``html_path``...): in this process on the
        embedded default, as a job on a worker otherwise (waiting for it)."""
        reports.check_subject(self.catalog, kind, params or {})  # before a kernel starts
        if self.settings.embedded:
            return ReportRecord(reports.run_report(self.catalog, kind, params, keep=keep))
        info = self.report_job(kind, params, keep=keep).wait()
        if info.state != "succeeded":
            raise ReportError(f"{kind} report job {info.id} {info.state}: {info.error or info.message}")
        return ReportRecord(reports.get_report(self.catalog, (info.result or {})["report_id"]))

    def report_job(self, kind: str, params: dict[str, Any] | None = None, *, keep: int | None = None) -> Job:
        """A report as a job on the imagery queue (returns at once)."""
        return reports.submit_report(self.catalog, kind, params, keep)

    def reports(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Your reports, newest first."""
        return reports.list_reports(self.catalog, kind)

    def report_notebook(self, report_id: int) -> Path:
        """The executed notebook of a report, as a file on this machine."""
        return reports.report_file(self.catalog, report_id, "notebook_path")

    def report_html(self, report_id: int) -> Path:
        """The HTML file of one of your reports."""
        return reports.report_html_path(self.catalog, report_id)

    # -- jobs ---------------------------------------------------------------------------------------
    def submit(self, kind: str, params: dict[str, Any] | None = None) -> Job:
        """Queue a job of any kind (ParamsError at once when ``params`` are wrong)."""
        return client.submit(self.catalog, kind, params)

    def job(self, job_id: str) -> Job:
        """A handle on one of your jobs (NotFoundError if there is none)."""
        return client.get(self.catalog, job_id)

    def jobs(self, state: str | None = None, kind: str | None = None, limit: int = 100) -> list[JobInfo]:
        """Your newest ``limit`` jobs, newest first."""
        return client.list_jobs(self.catalog, state=state, kind=kind, limit=limit)

    # -- API tokens ------------------------------------------------------------------------------
    def create_token(self, name: str, scope: str = "read", days: int = 90) -> tuple[tokens.TokenInfo, str]:
        """A personal token for the REST API; its text is returned this once, never stored."""
        return tokens.create_token(self.catalog, name, scope, days)

    def tokens(self) -> list[tokens.TokenInfo]:
        return tokens.list_tokens(self.catalog)

    def revoke_token(self, token_id: str) -> None:
        tokens.revoke_token(self.catalog, token_id)

    def abort(self, job_id: str, *, force: bool = False) -> None:
        """Ask a job to stop at its next safe point; ``force`` ends one that stopped checking."""
        client.abort(self.catalog, job_id, force=force)

    # -- the connection -------------------------------------------------------------------------------
    def close(self) -> None:
        self.catalog.dispose()

    def __enter__(self) -> Workbench:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _view(self, view: View | str) -> View:
        return self.dataset(view) if isinstance(view, str) else view


def _spec(view: View) -> dict[str, Any]:
    return json.loads(view.to_json())


def _as_job_path(path: str | Path) -> str:
    """A path as a worker reads it: absolute, unless it is an object-store reference."""
    return str(path) if "://" in str(path) else str(Path(path).absolute())
