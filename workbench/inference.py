"""Batch inference and evaluation as jobs (the ``inference`` queue): a view streamed through ONNX
Runtime in chunks, memory flat whatever the view's size, predictions upserted so a re-run writes
each (model, image) once."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from PIL import Image
from pydantic import Field
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from workbench.catalog import Catalog
from workbench.catalog.models import Model, Prediction
from workbench.catalog.retry import retrying
from workbench.errors import WorkbenchError
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.runner import JobContext
from workbench.registry import export_folder, get_model
from workbench.views import ImageRecord, View, ViewSpec


class ModelOnView(JobParams):
    model_id: int = Field(ge=1, le=2**63 - 1, description="the model")
    view: ViewSpec = Field(description="the images")

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        exported(catalog, self.model_id)
        View.from_spec(catalog, self.view)  # NotFoundError names the datasets there are


class PredictParams(ModelOnView):
    batch_size: int = Field(64, ge=1, le=4096, description="images per ONNX Runtime call")
    threads: int = Field(0, ge=0, le=256, description="ONNX Runtime threads (0: its default)")
    chunk: int = Field(512, ge=1, le=100_000, description="images per write and progress step")


def exported(catalog: Catalog, model_id: int) -> Model:
    """The model, which must have an ONNX export to run."""
    model = get_model(catalog, model_id)
    if not model.export_dir:
        raise ValueError(f"model {model.id} has no ONNX export to run")
    return model


@job_kind("predict", queue="inference", params=PredictParams)
def predict_job(ctx: JobContext[PredictParams]) -> dict[str, Any]:
    from workbench.ml.predict import OnnxPredictor

    catalog, params = ctx.catalog, ctx.params
    model = exported(catalog, params.model_id)
    predictor = OnnxPredictor(export_folder(catalog, model), threads=params.threads)
    view = View.from_spec(catalog, params.view)
    total = view.count()
    batch_size, chunk_size = params.batch_size, params.chunk
    done = right = 0
    chunk: list[ImageRecord] = []
    for record in view:  # keyset pages: a thousand records in memory at most
        chunk.append(record)
        if len(chunk) == chunk_size:
            right += _predict_chunk(catalog, predictor, model.id, ctx.job_id, chunk, batch_size)
            done += len(chunk)
            chunk = []
            ctx.progress(done / total, f"{done:,} of {total:,} images", milestone=True)
            ctx.check_abort()  # an abort keeps what was written: predictions are per image
    if chunk:
        right += _predict_chunk(catalog, predictor, model.id, ctx.job_id, chunk, batch_size)
        done += len(chunk)
    ctx.progress(1.0, f"{done:,} images predicted", milestone=True)
    return {"model_id": model.id, "predicted": done, "agreement_with_labels": right / done if done else None}


def _predict_chunk(
    catalog: Catalog, predictor: Any, model_id: int, job_id: str, records: list[ImageRecord], batch_size: int
) -> int:
    rows, right = [], 0
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        images = [Image.open(catalog.store.blob_path(r.sha256)) for r in batch]
        try:
            probabilities = predictor.probabilities(images)
        finally:
            for image in images:
                image.close()
        for record, p in zip(batch, probabilities, strict=True):
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


@job_kind("evaluate", queue="inference", params=ModelOnView)
def evaluate_job(ctx: JobContext[ModelOnView]) -> dict[str, Any]:
    """Evaluate a model on any view (e.g. another season): the same metrics as after training,
    stored with the model under ``metrics["evaluations"]``, keyed by the view."""
    from workbench.ml.metrics import evaluate
    from workbench.ml.predict import OnnxPredictor

    catalog = ctx.catalog
    model = exported(catalog, ctx.params.model_id)
    predictor = OnnxPredictor(export_folder(catalog, model))
    index = {label: i for i, label in enumerate(model.classes)}
    view = View.from_spec(catalog, ctx.params.view)
    total = view.count()
    logits: list[np.ndarray] = []
    targets: list[int] = []
    ids: list[int] = []
    attributes: list[dict[str, Any]] = []
    unknown = 0
    batch: list[ImageRecord] = []

    def flush() -> None:
        images = [Image.open(catalog.store.blob_path(r.sha256)) for r in batch]
        logits.append(predictor.logits(predictor.preprocess(images)))
        targets.extend(index[r.label] for r in batch)
        ids.extend(r.id for r in batch)
        attributes.extend(r.attributes for r in batch)
        batch.clear()

    for n, record in enumerate(view, 1):
        if record.label not in index:
            unknown += 1  # a label the model never learned cannot be scored
            continue
        batch.append(record)
        if len(batch) == 64:
            flush()
            ctx.progress(n / total, f"{n:,} of {total:,} images")
            ctx.check_abort()
    if batch:
        flush()
    if not targets:
        raise WorkbenchError(f"{view!r} has no image with a label model {model.id} knows")
    metrics = evaluate(
        np.concatenate(logits), np.array(targets), model.classes, ids=ids, attributes=attributes
    )
    metrics["unknown_labels"] = unknown
    key = view.to_json()
    _record_evaluation(catalog, model.id, key, metrics)
    return {"model_id": model.id, "view": json.loads(key), "accuracy": metrics["accuracy"], "n": metrics["n"]}


@retrying
def _record_evaluation(catalog: Catalog, model_id: int, view_key: str, metrics: dict[str, Any]) -> None:
    with catalog.transaction() as session:
        row = session.get_one(Model, model_id)
        evaluations = {**row.metrics.get("evaluations", {}), view_key: metrics}
        row.metrics = {**row.metrics, "evaluations": evaluations}
