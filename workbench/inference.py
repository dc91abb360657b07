"""Batch inference and evaluation as jobs (the ``inference`` queue): a view streamed through ONNX
Runtime in chunks, memory flat whatever the view's size, predictions upserted so a re-run writes
each (model, image) once. With a broker, a view bigger than one chunk fans out: each chunk job
takes an id range of the view (``workbench.jobs.fanout``); predict needs no undo (upserts), and
evaluate's chunks return logits that the fan-in turns into the metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from workbench import usage
from workbench.batches import job_halving
from workbench.catalog import Catalog
from workbench.catalog.models import Model, Prediction
from workbench.catalog.retry import retrying
from workbench.errors import WorkbenchError
from workbench.jobs import metrics
from workbench.jobs.fanout import Chunk, ChunkParams, FanIn, FanOut, Plan
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.runner import JobContext
from workbench.ml.memory import Halving
from workbench.pool import batched
from workbench.registry import export_folder, get_model
from workbench.views import ImageRecord, View, ViewSpec

CHUNK_IMAGES = 2048  # images per chunk job: seconds of inference, worth a message and a row
WRITE_BLOCK = 512  # at most this many images per write and progress step


class ModelOnView(JobParams):
    model_id: int = Field(ge=1, le=2**63 - 1, description="the model")
    view: ViewSpec = Field(description="the images")
    chunk: int = Field(
        CHUNK_IMAGES, ge=1, le=100_000, description="images per chunk when the job fans out over workers"
    )

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        exported(catalog, self.model_id)
        View.from_spec(catalog, self.view)  # NotFoundError names the datasets there are


class EvaluateParams(ModelOnView):
    """Evaluating records the metrics with the model: only its owner may."""

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        get_model(catalog, self.model_id, to_change=True)
        super().check(catalog, job_id)


class PredictParams(ModelOnView):
    """``chunk`` is also the write and progress step in one process, up to 512 images."""

    batch_size: int = Field(64, ge=1, le=4096, description="images per ONNX Runtime call")
    threads: int = Field(0, ge=0, le=256, description="ONNX Runtime threads (0: its default)")


def exported(catalog: Catalog, model_id: int) -> Model:
    """The model, which must have an ONNX export to run."""
    model = get_model(catalog, model_id)
    if not model.export_dir:
        raise ValueError(f"model {model.id} has no ONNX export to run")
    return model


def plan_ranges(ctx: JobContext[Any]) -> Plan | None:
    """An id range of the view per chunk; None when the view fits one chunk."""
    view = View.from_spec(ctx.catalog, ctx.params.view)
    if view.count() <= ctx.params.chunk:
        return None
    return Plan([{"after": after, "upto": upto} for after, upto in view.id_ranges(ctx.params.chunk)], {})


def predict_range(ctx: JobContext[ChunkParams], chunk: Chunk[PredictParams]) -> dict[str, Any]:
    from workbench.ml.predict import OnnxPredictor

    params = chunk.params
    model = exported(ctx.catalog, params.model_id)
    batch = job_halving(ctx, params.batch_size)  # on the row before the memory is used
    predictor = OnnxPredictor(export_folder(ctx.catalog, model), threads=params.threads)
    records = View.from_spec(ctx.catalog, params.view).between(chunk.part["after"], chunk.part["upto"])
    right = 0
    for start in range(0, len(records), WRITE_BLOCK):
        block = records[start : start + WRITE_BLOCK]
        right += _predict_chunk(ctx.catalog, predictor, model.id, chunk.parent_id, block, batch)
        ctx.progress((start + len(block)) / len(records), f"{start + len(block):,} images", milestone=True)
        ctx.check_abort()  # an abort keeps what was written: predictions are per image
    return {"predicted": len(records), "right": right}


def predict_fan_in(catalog: Catalog, params: PredictParams, fan_in: FanIn) -> tuple[dict[str, Any], str]:
    done = sum(result["predicted"] for result in fan_in.results)
    right = sum(result["right"] for result in fan_in.results)
    agreement = right / done if done else None
    return {"model_id": params.model_id, "predicted": done, "agreement_with_labels": agreement}, (
        f"{done:,} images predicted"
    )


PREDICT_FANOUT = FanOut(plan_ranges, predict_range, predict_fan_in)  # upserts: nothing to undo


@job_kind("predict", queue="inference", params=PredictParams, fanout=PREDICT_FANOUT)
def predict_job(ctx: JobContext[PredictParams]) -> dict[str, Any]:
    from workbench.ml.predict import OnnxPredictor

    catalog, params = ctx.catalog, ctx.params
    model = exported(catalog, params.model_id)
    batch = job_halving(ctx, params.batch_size)  # on the row before the memory is used
    predictor = OnnxPredictor(export_folder(catalog, model), threads=params.threads)
    view = View.from_spec(catalog, params.view)
    total = view.count()
    done = right = 0
    chunk: list[ImageRecord] = []
    for record in view:  # keyset pages: a thousand records in memory at most
        chunk.append(record)
        if len(chunk) == min(params.chunk, WRITE_BLOCK):  # a smaller chunk: finer steps
            right += _predict_chunk(catalog, predictor, model.id, ctx.job_id, chunk, batch)
            done += len(chunk)
            chunk = []
            ctx.progress(done / total, f"{done:,} of {total:,} images", milestone=True)
            ctx.check_abort()  # an abort keeps what was written: predictions are per image
    if chunk:
        right += _predict_chunk(catalog, predictor, model.id, ctx.job_id, chunk, batch)
        done += len(chunk)
    ctx.progress(1.0, f"{done:,} images predicted", milestone=True)
    return {"model_id": model.id, "predicted": done, "agreement_with_labels": right / done if done else None,
            "batch_size": batch.batch}  # fmt: skip


def _predict_chunk(
    catalog: Catalog, predictor: Any, model_id: int, job_id: str, records: list[ImageRecord], batch: Halving
) -> int:
    """Predict and store ``records``, a batch at a time; out of memory, the batch halves."""

    def probabilities(part: Sequence[ImageRecord]) -> tuple[Sequence[ImageRecord], np.ndarray]:
        images = [Image.open(catalog.store.blob_path(r.sha256)) for r in part]
        try:
            return part, predictor.probabilities(images)
        finally:
            for image in images:
                image.close()

    rows, right = [], 0
    for part, scores in batch.run(records, probabilities):
        for record, p in zip(part, scores, strict=True):
            best = int(p.argmax())
            label = predictor.classes[best]
            right += label == record.label
            rows.append(
                {
                    "owner": catalog.user,
                    "model_id": model_id,
                    "image_id": record.id,
                    "label": label,
                    "score": float(p[best]),
                    "job_id": job_id,
                }
            )
    _store(catalog, rows)
    usage.record(catalog, model_id, "batch", (row["score"] for row in rows))
    metrics.images("predicted", len(rows))
    return right


@retrying
def _store(catalog: Catalog, rows: list[dict[str, Any]]) -> None:
    with catalog.transaction() as session:
        _upsert(session, rows)


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(Prediction)
    statement = statement.on_conflict_do_update(
        index_elements=["model_id", "image_id"],
        set_={
            "label": statement.excluded.label,
            "score": statement.excluded.score,
            "job_id": statement.excluded.job_id,
        },
    )
    session.execute(statement, rows)


class Scores:
    """Logits of a view's images, batch by batch, with what the metrics need beside them; a
    chunk job sends its scores to the fan-in as JSON."""

    def __init__(self, catalog: Catalog, predictor: Any, classes: list[str]) -> None:
        self.catalog, self.predictor = catalog, predictor
        self.index = {label: i for i, label in enumerate(classes)}
        self.logits: list[np.ndarray] = []
        self.targets: list[int] = []
        self.ids: list[int] = []
        self.attributes: list[dict[str, Any]] = []
        self.unknown = 0
        self._batch: list[ImageRecord] = []

    def add(self, record: ImageRecord) -> bool:
        """Score ``record`` (a batch at a time); returns whether a batch was just scored."""
        if record.label not in self.index:
            self.unknown += 1  # a label the model never learned cannot be scored
            return False
        self._batch.append(record)
        if len(self._batch) < 64:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        if not self._batch:
            return
        images = [Image.open(self.catalog.store.blob_path(r.sha256)) for r in self._batch]
        self.logits.append(self.predictor.logits(self.predictor.preprocess(images)))
        self.targets.extend(self.index[r.label] for r in self._batch)
        self.ids.extend(r.id for r in self._batch)
        self.attributes.extend(r.attributes for r in self._batch)
        self._batch.clear()

    def to_json(self) -> dict[str, Any]:
        logits = np.concatenate(self.logits).tolist() if self.logits else []
        return {"logits": logits, "targets": self.targets, "ids": self.ids,
                "attributes": self.attributes, "unknown": self.unknown}  # fmt: skip


def _evaluated(catalog: Catalog, model: Model, view: View, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The metrics over every part's scores, recorded with the model; the job's result."""
    from workbench.ml.metrics import evaluate

    targets = [t for part in parts for t in part["targets"]]
    if not targets:
        raise WorkbenchError(f"{view!r} has no image with a label model {model.id} knows")
    logits = np.array([row for part in parts for row in part["logits"]], dtype=np.float32)
    ids = [i for part in parts for i in part["ids"]]
    attributes = [a for part in parts for a in part["attributes"]]
    metrics = evaluate(logits, np.array(targets), model.classes, ids=ids, attributes=attributes)
    metrics["unknown_labels"] = sum(part["unknown"] for part in parts)
    key = view.to_json()
    _record_evaluation(catalog, model.id, key, metrics)
    return {"model_id": model.id, "view": json.loads(key), "accuracy": metrics["accuracy"], "n": metrics["n"]}


def evaluate_range(ctx: JobContext[ChunkParams], chunk: Chunk[ModelOnView]) -> dict[str, Any]:
    from workbench.ml.predict import OnnxPredictor

    model = exported(ctx.catalog, chunk.params.model_id)
    scores = Scores(ctx.catalog, OnnxPredictor(export_folder(ctx.catalog, model)), model.classes)
    records = View.from_spec(ctx.catalog, chunk.params.view).between(chunk.part["after"], chunk.part["upto"])
    for n, record in enumerate(records, 1):
        if scores.add(record):
            ctx.progress(n / len(records), f"{n:,} images")
            ctx.check_abort()
    scores.flush()
    return scores.to_json()


def evaluate_fan_in(catalog: Catalog, params: ModelOnView, fan_in: FanIn) -> tuple[dict[str, Any], str]:
    model = exported(catalog, params.model_id)
    result = _evaluated(catalog, model, View.from_spec(catalog, params.view), fan_in.results)
    return result, f"accuracy {result['accuracy']:.3f} on {result['n']:,} images"


EVALUATE_FANOUT = FanOut(plan_ranges, evaluate_range, evaluate_fan_in)  # writes at the fan-in only


@job_kind("evaluate", queue="inference", params=EvaluateParams, fanout=EVALUATE_FANOUT)
def evaluate_job(ctx: JobContext[EvaluateParams]) -> dict[str, Any]:
    """Evaluate a model on any view (e.g. another season): the same metrics as after training,
    stored with the model under ``metrics["evaluations"]``, keyed by the view."""
    from workbench.ml.predict import OnnxPredictor

    catalog = ctx.catalog
    model = exported(catalog, ctx.params.model_id)
    scores = Scores(catalog, OnnxPredictor(export_folder(catalog, model)), model.classes)
    view = View.from_spec(catalog, ctx.params.view)
    total = view.count()
    for n, record in enumerate(view, 1):
        if scores.add(record):
            ctx.progress(n / total, f"{n:,} of {total:,} images")
            ctx.check_abort()
    scores.flush()
    return _evaluated(catalog, model, view, [scores.to_json()])


@retrying
def _record_evaluation(catalog: Catalog, model_id: int, view_key: str, metrics: dict[str, Any]) -> None:
    with catalog.transaction() as session:
        row = session.get_one(Model, model_id)
        evaluations = {**row.metrics.get("evaluations", {}), view_key: metrics}
        row.metrics = {**row.metrics, "evaluations": evaluations}


def view_predictions(catalog: Catalog, model_id: int, view: View) -> list[dict[str, Any]]:
    """A model's stored answers for a view's images, in image order (images it has not
    predicted are left out): what the dashboard shows and offers as a CSV."""
    rows: list[dict[str, Any]] = []
    for records in batched(view, 1000):
        by_id = {record.id: record for record in records}
        query = select(Prediction.image_id, Prediction.label, Prediction.score).where(
            Prediction.owner == catalog.user,
            Prediction.model_id == model_id,
            Prediction.image_id.in_(list(by_id)),
        )
        with catalog.sessions() as session:
            found = {image_id: (label, score) for image_id, label, score in session.execute(query)}
        for image_id, record in by_id.items():
            if image_id in found:
                predicted, score = found[image_id]
                rows.append({"image": record.original_name, "label": record.label, "predicted": predicted,
                             "score": round(score, 4)})  # fmt: skip
    return rows
