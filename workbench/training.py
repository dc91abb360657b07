"""From a view to a trained, evaluated, exported model: the training job and the model registry.

The job freezes the view into exact image ids, checks it (empty, single-class, a class without
validation images, duplicates across train and validation), decodes it once into the tensor
cache, trains with checkpoints under ``DATA_DIR/models/<job id>`` (a redelivered job resumes from
the last one), evaluates on the test split, exports ONNX and records one ``models`` row.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import shutil
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.errors import NotFoundError, WorkbenchError
from workbench.ingest.split import assign_splits
from workbench.views import ImageRecord, View

TRAIN_PARAMS = (
    "view",
    "name",
    "arch",
    "epochs",
    "batch_size",
    "lr",
    "image_size",
    "seed",
    "pretrained",
    "precision",
    "hflip",
    "augmented",
    "freeze_epochs",
    "int8",
)


class TrainingError(WorkbenchError):
    """The view cannot be trained on as it is (said before any work starts)."""


def frozen_records(view: View) -> list[ImageRecord]:
    records = list(view)
    if not records:
        raise TrainingError(f"{view!r} has no images: nothing to train on")
    labels = Counter(r.label for r in records)
    if len(labels) < 2:
        raise TrainingError(
            f"{view!r} has one class ({next(iter(labels))!r}): a classifier needs two or more"
        )
    return records


def split_indices(records: list[ImageRecord], seed: int) -> dict[str, np.ndarray]:
    """The view's own split column when it has train and val, else a seeded stratified split."""
    splits = [r.split for r in records]
    if not ({"train", "val"} <= set(splits) and None not in splits):
        assignment = assign_splits([(r.id, r.label, r.sha256) for r in records], (0.8, 0.1, 0.1), seed)
        splits = [assignment[r.id] for r in records]
    out = {
        name: np.array([i for i, s in enumerate(splits) if s == name], dtype=np.int64)
        for name in ("train", "val", "test")
    }
    classes = sorted({r.label for r in records})
    val_labels = {records[i].label for i in out["val"]}
    missing = [c for c in classes if c not in val_labels]
    if missing:
        raise TrainingError(
            f"no validation images for {', '.join(map(repr, missing[:5]))}: add images or filter "
            "those classes out (a class without validation images cannot be judged)"
        )
    return out


def leakage(records: list[ImageRecord], splits: dict[str, np.ndarray]) -> int:
    """Images whose exact content is in both train and validation/test (same sha256)."""
    train = {records[i].sha256 for i in splits["train"]}
    held_out = {records[i].sha256 for name in ("val", "test") for i in splits[name]}
    return len(train & held_out)


def with_augmented(
    catalog: Catalog, view: View, wanted: Any, records: list[ImageRecord], splits: dict[str, np.ndarray]
) -> tuple[list[ImageRecord], dict[str, np.ndarray], list[str]]:
    """Add the augmented copies of the view's training images (from the augmented datasets
    ``wanted``: True for all) to the training split only, so no copy of a validation or test
    image is trained on and no copy is judged. Returns the records, splits and dataset names."""
    if not wanted:
        return records, splits, []
    from workbench.derive.lineage import augmented_children, copies_of

    children = augmented_children(catalog, view.dataset_id, wanted)
    extra = copies_of(catalog, [i for i, _ in children], {records[i].id for i in splits["train"]})
    added = np.arange(len(records), len(records) + len(extra), dtype=np.int64)
    return (
        records + extra,
        {**splits, "train": np.concatenate([splits["train"], added])},
        [n for _, n in children],
    )


def train_job(ctx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The ``train`` job kind (torch worker, ``training`` queue)."""
    import torch

    from workbench.jobs.runner import JobAborted
    from workbench.ml.cache import CacheItem, build_cache
    from workbench.ml.data import IMAGENET_MEAN, IMAGENET_STD, Augment, CachedImageData
    from workbench.ml.export import export
    from workbench.ml.metrics import evaluate
    from workbench.ml.train import TrainConfig, fit

    catalog: Catalog = ctx.catalog
    params = ctx.params
    unknown = set(params) - set(TRAIN_PARAMS)
    if unknown:
        raise TrainingError(
            f"unknown training parameters {sorted(unknown)}; known: {', '.join(TRAIN_PARAMS)}"
        )
    try:
        config = TrainConfig(**{k: params[k] for k in asdict(TrainConfig()) if k in params})
    except ValueError as error:
        raise TrainingError(str(error)) from None
    if not 0 <= config.freeze_epochs < config.epochs:
        raise TrainingError(
            f"freeze_epochs must be at least 0 and fewer than epochs ({config.epochs}), "
            f"got {config.freeze_epochs}: the backbone has to train for an epoch at least"
        )
    view = View.from_json(catalog, params["view"])
    records = frozen_records(view)
    splits = split_indices(records, config.seed)
    view_ids = {r.id for r in records}
    records, splits, augmented = with_augmented(catalog, view, params.get("augmented"), records, splits)
    leaked = leakage(records, splits)
    classes = sorted({r.label for r in records})
    ctx.progress(0.0, f"{len(records):,} images, {len(classes)} classes; decoding", milestone=True)
    items = [CacheItem(r.id, r.sha256, str(catalog.store.blob_path(r.sha256))) for r in records]
    cache = build_cache(
        items,
        config.image_size,
        catalog.settings.data_dir / "cache",
        progress=lambda d, n: ctx.progress(0.0, f"decoding {d:,}/{n:,} images"),
    )
    position = {image_id: i for i, image_id in enumerate(cache.ids.tolist())}
    keep = {
        name: np.array([position[records[i].id] for i in idx if records[i].id in position], np.int64)
        for name, idx in splits.items()
    }
    index_of = {c: i for i, c in enumerate(classes)}
    by_id = {r.id: r for r in records}
    targets = np.array([index_of[by_id[i].label] for i in cache.ids.tolist()], dtype=np.int64)
    data = CachedImageData(
        cache.array,
        targets,
        keep,
        batch_size=config.batch_size,
        seed=config.seed,
        augment=Augment(hflip=bool(params.get("hflip", True))),
        channels_last=config.channels_last,
    )
    workdir = catalog.settings.data_dir / "models" / ctx.job_id
    started = time.monotonic()
    model, best, history = fit(
        data,
        len(classes),
        config,
        workdir / "checkpoints",
        report=lambda f, m, metrics: ctx.progress(f, m, metrics),
        should_stop=ctx.should_abort,
        on_epoch=lambda point: ctx.record_point("epochs", point),
    )
    train_seconds = time.monotonic() - started
    if history.stopped:
        raise JobAborted(f"aborted after epoch {len(history.epochs)}; checkpoints kept in {workdir}")
    ctx.progress(1.0, "evaluating and exporting", milestone=True)
    test = keep["test"] if len(keep["test"]) else keep["val"]
    logits, test_targets = _logits(model, data.test_dataloader())
    test_ids = cache.ids[np.sort(test)]
    metrics = evaluate(
        logits,
        test_targets,
        classes,
        ids=test_ids.tolist(),
        attributes=[by_id[i].attributes for i in test_ids.tolist()],
    )
    metrics |= {
        "augmented_images": len(records) - len(view_ids),
        "epochs": history.epochs,
        "leakage": leaked,
        "train_seconds": round(train_seconds, 1),
        "skipped": cache.skipped,
        "split_sizes": {k: len(v) for k, v in keep.items()},
    }
    sample = next(iter(data.test_dataloader()))[0][:16]
    exported = export(
        model.model,
        workdir / "export",
        classes=classes,
        image_size=config.image_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        check_images=sample,
    )
    metrics["export"] = exported
    if params.get("int8"):
        ctx.progress(1.0, "quantizing to int8", milestone=True)
        metrics["int8"] = _int8_export(workdir / "export", data, metrics["accuracy"])
    torch.save({"state_dict": model.state_dict()}, workdir / "export" / "model.ckpt")
    train_ids = sorted(int(cache.ids[i]) for i in keep["train"])
    model_id = _record_model(
        catalog,
        ctx.job_id,
        params.get("name") or view.dataset,
        config,
        classes,
        {**json.loads(view.to_json()), **({"augmented": augmented} if augmented else {})},
        train_ids,
        metrics,
        best,
        workdir / "export",
    )
    return {"model_id": model_id, "accuracy": metrics["accuracy"], "export_dir": str(workdir / "export")}


def _int8_export(export_dir: Path, data: Any, accuracy: float) -> dict[str, Any]:
    """Quantize the export, calibrated on validation images, and score it on the test images."""
    from workbench.ml.predict import OnnxPredictor
    from workbench.ml.quantize import INT8_FILE, quantize_int8

    calibration = (images.numpy() for images, _ in itertools.islice(data.val_dataloader(), 8))
    quantize_int8(export_dir, calibration)
    predictor = OnnxPredictor(export_dir, model_file=INT8_FILE)
    right = total = 0
    for images, labels in data.test_dataloader():
        right += int((predictor.logits(images.numpy()).argmax(1) == labels.numpy()).sum())
        total += len(labels)
    int8_accuracy = right / max(1, total)
    return {"file": INT8_FILE, "accuracy": int8_accuracy, "accuracy_change": int8_accuracy - accuracy}


def _logits(model, batches) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    import torch

    outputs, targets = [], []
    with torch.no_grad():
        for images, labels in batches:
            outputs.append(model(images).float().numpy())
            targets.append(labels.numpy())
    return np.concatenate(outputs), np.concatenate(targets)


def _record_model(
    catalog: Catalog,
    job_id: str,
    name: str,
    config,
    classes: list[str],  # type: ignore[no-untyped-def]
    view: dict[str, Any],
    train_ids: list[int],
    metrics: dict[str, Any],
    checkpoint: Path,
    export_dir: Path,
) -> int:
    """One models row per training job, even when the job ran twice (keyed by the job id)."""
    digest = hashlib.sha256(json.dumps(train_ids).encode()).hexdigest()
    with catalog.transaction() as session:
        row = session.scalars(select(Model).where(Model.job_id == job_id)).one_or_none()
        if row is None:
            row = Model(
                owner=catalog.user, job_id=job_id, name=name, arch=config.arch, image_size=config.image_size
            )
            session.add(row)
        row.classes, row.view, row.train_image_ids, row.train_ids_sha256 = classes, view, train_ids, digest
        row.metrics, row.checkpoint_path, row.export_dir = metrics, str(checkpoint), str(export_dir)
        session.flush()
        return row.id


# -- the registry -----------------------------------------------------------------------------
def list_models(catalog: Catalog) -> list[dict[str, Any]]:
    """The user's models, oldest first, with their headline metrics."""
    with catalog.sessions() as session:
        rows = session.scalars(select(Model).where(Model.owner == catalog.user).order_by(Model.id)).all()
        return [_summary(row) for row in rows]


def get_model(catalog: Catalog, model_id: int) -> Model:
    with catalog.sessions() as session:
        row = session.get(Model, model_id)
        if row is None or row.owner != catalog.user:
            raise NotFoundError(f"no model {model_id} for user {catalog.user!r}")
        session.expunge(row)
        return row


def set_published(catalog: Catalog, model_id: int, published: bool) -> None:
    get_model(catalog, model_id)
    with catalog.transaction() as session:
        session.get_one(Model, model_id).published = published


def delete_model(catalog: Catalog, model_id: int) -> None:
    """Delete a model with its files (checkpoints and export)."""
    row = get_model(catalog, model_id)
    with catalog.transaction() as session:
        session.delete(session.get_one(Model, model_id))
    if row.export_dir:
        shutil.rmtree(Path(row.export_dir).parent, ignore_errors=True)


def compare_models(catalog: Catalog, model_ids: list[int]) -> list[dict[str, Any]]:
    """One row of metrics per model, and whether each saw exactly the first one's images."""
    rows = [get_model(catalog, model_id) for model_id in model_ids]
    first = rows[0].train_ids_sha256 if rows else ""
    return [{**_summary(row), "same_training_images": row.train_ids_sha256 == first} for row in rows]


def _summary(row: Model) -> dict[str, Any]:
    metrics = row.metrics or {}
    headline = {
        k: metrics[k]
        for k in ("accuracy", "top5_accuracy", "macro_f1", "n", "train_seconds", "int8")
        if k in metrics
    }
    return {
        "id": row.id,
        "name": row.name,
        "arch": row.arch,
        "classes": len(row.classes),
        "image_size": row.image_size,
        "metrics": headline,
        "export_dir": row.export_dir,
        "published": row.published,
        "job_id": row.job_id,
        "train_images": len(row.train_image_ids),
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }
