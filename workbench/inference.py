"""Batch inference as a job (the ``inference`` queue): a view streamed through ONNX Runtime in
chunks, memory flat whatever the view's size, predictions upserted so a re-run writes each
(model, image) once."""

from __future__ import annotations

from typing import Any

from PIL import Image
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from workbench.catalog import Catalog
from workbench.catalog.models import Prediction
from workbench.errors import WorkbenchError
from workbench.views import ImageRecord, View

PREDICT_PARAMS = ("model_id", "view", "batch_size", "threads", "chunk")


def predict_job(ctx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from workbench.ml.predict import OnnxPredictor
    from workbench.training import get_model

    catalog: Catalog = ctx.catalog
    params = ctx.params
    unknown = set(params) - set(PREDICT_PARAMS)
    if unknown or "model_id" not in params or "view" not in params:
        raise WorkbenchError(f"a predict job takes {', '.join(PREDICT_PARAMS)}; got {sorted(params)}")
    model = get_model(catalog, int(params["model_id"]))
    if not model.export_dir:
        raise WorkbenchError(f"model {model.id} has no ONNX export to predict with")
    predictor = OnnxPredictor(model.export_dir, threads=int(params.get("threads", 0)))
    view = View.from_json(catalog, params["view"])
    total = view.count()
    batch_size, chunk_size = int(params.get("batch_size", 64)), int(params.get("chunk", 512))
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
    catalog: Catalog,
    predictor,
    model_id: int,
    job_id: str,  # type: ignore[no-untyped-def]
    records: list[ImageRecord],
    batch_size: int,
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
    with catalog.transaction() as session:
        _upsert(session, rows)
    return right


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


def evaluate_job(ctx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Evaluate a model on any view (e.g. another season): the same metrics as after training,
    stored with the model under ``metrics["evaluations"]``, keyed by the view."""
    import json

    import numpy as np

    from workbench.catalog.models import Model
    from workbench.ml.metrics import evaluate
    from workbench.ml.predict import OnnxPredictor
    from workbench.training import get_model

    catalog: Catalog = ctx.catalog
    model = get_model(catalog, int(ctx.params["model_id"]))
    if not model.export_dir:
        raise WorkbenchError(f"model {model.id} has no ONNX export to evaluate")
    predictor = OnnxPredictor(model.export_dir)
    index = {label: i for i, label in enumerate(model.classes)}
    view = View.from_json(catalog, ctx.params["view"])
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
    with catalog.transaction() as session:
        row = session.get_one(Model, model.id)
        row.metrics = {**row.metrics, "evaluations": {**row.metrics.get("evaluations", {}), key: metrics}}
    return {"model_id": model.id, "view": json.loads(key), "accuracy": metrics["accuracy"], "n": metrics["n"]}
