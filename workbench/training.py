"""From a view to a trained, evaluated, exported model: the ``train`` job kind.

The job freezes the view into exact image ids, checks it (empty, single-class, a class without
validation images, duplicates across train and validation), decodes it once into the tensor
cache, trains with checkpoints under ``DATA_DIR/models/<job id>`` (a redelivered job resumes from
the last one), evaluates on the test split, exports ONNX and records one ``models`` row. The
models are read back through ``workbench.registry``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from sqlalchemy import select

from workbench.batches import job_halving
from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.catalog.retry import retrying
from workbench.config import Settings
from workbench.errors import TrainingError
from workbench.ingest.split import assign_splits
from workbench.jobs import metrics as job_metrics
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.records import JobAborted
from workbench.jobs.runner import JobContext
from workbench.ml.config import TrainConfig
from workbench.views import ImageRecord, View, ViewSpec
from workbench.views.spec import describe_filter


class TrainParams(JobParams, TrainConfig):
    """A training job: the view, the training configuration (defaults in ``TrainConfig``), and
    what to do besides."""

    view: ViewSpec = Field(description="the images to train on")
    name: str | None = Field(None, max_length=256, description="the model's name (default: the dataset's)")
    augmented: bool | list[str] = Field(
        False, description="add the copies of training images from these augmented datasets (true: all)"
    )
    int8: bool = Field(
        False, description="also export a static int8 model.int8.onnx, scored on the test images"
    )

    def config(self) -> TrainConfig:
        return TrainConfig.model_validate(self.model_dump(include=set(TrainConfig.model_fields)))

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        view = View.from_spec(catalog, self.view)
        if len(labels := view.labels()) < 2:
            raise ValueError(_too_few_classes(view, labels))


def _too_few_classes(view: View, labels: Counter[str] | dict[str, int]) -> str:
    rules = describe_filter(view.spec)
    images = f"the images of {view.dataset!r}" + (f" with {rules}" if rules else "")
    if not labels:
        return f"{images}: no images, so nothing to train on (check the filter)"
    return (
        f"{images} are all of one class ({next(iter(labels))!r}): a classifier learns to tell two "
        "or more apart; widen the filter or add images of another label"
    )


def frozen_records(view: View) -> list[ImageRecord]:
    """Every image of the view, once: what the model will say it was trained on."""
    records = list(view)
    if len(labels := Counter(r.label for r in records)) < 2:
        raise TrainingError(_too_few_classes(view, labels))
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


def _epoch_recorder(ctx: JobContext[Any], arch: str, images: int) -> Callable[[dict[str, Any]], None]:
    """Each epoch's point into the job's curve, and its time and images into the metrics."""
    last = time.monotonic()

    def record(point: dict[str, Any]) -> None:
        nonlocal last
        now = time.monotonic()
        job_metrics.epoch(arch, now - last, images)
        last = now
        ctx.record_point("epochs", point)

    return record


@job_kind("train", queue="training", params=TrainParams, error=TrainingError)
def train_job(ctx: JobContext[TrainParams]) -> dict[str, Any]:
    return train_with(ctx, ctx.params)


def train_with(ctx: JobContext[Any], params: TrainParams, run: str | None = None) -> dict[str, Any]:
    """Freeze and decode the view, train, evaluate on the test split, export, record the model
    (a training job's, or one configuration of a sweep's: ``run`` names its folder, the job's id
    by default, where an earlier delivery's checkpoints are resumed from)."""
    from workbench.ml.train import fit

    config = params.config()
    data = _prepare(ctx, params, config)
    workdir, store = ctx.settings.data_dir / "models" / (run or ctx.job_id), ctx.catalog.store
    store.fetch(store.reference(workdir / "checkpoints"))  # an earlier run on another host: resume
    started = time.monotonic()
    batch = job_halving(ctx, config.batch_size, floor=exact_floor(config.batch_size, ctx.settings))

    def fit_at(size: int) -> Any:  # out of memory, again from the last checkpoint at half the batch
        data.batches.batch_size = size
        return fit(
            data.batches, len(data.classes), config, workdir / "checkpoints",
            report=lambda f, m, metrics: ctx.progress(f, m, metrics), should_stop=ctx.should_abort,
            on_epoch=_epoch_recorder(ctx, config.arch, len(data.train_ids())),
            before_checkpoint=ctx.fence,  # a run that lost the job never overwrites the new run's files
            after_checkpoint=store.publish, accumulate=config.batch_size // size,
        )  # fmt: skip

    model, best, history = batch.call(fit_at)
    if history.stopped:
        ctx.fence()  # JobLost when stopped because another worker has the job now
        raise JobAborted(f"aborted after epoch {len(history.epochs)}; checkpoints kept in {workdir}")
    ctx.progress(1.0, "evaluating and exporting", milestone=True)
    metrics = _evaluate(model, data) | {
        "epochs": history.epochs, "train_seconds": round(time.monotonic() - started, 1),
    }  # fmt: skip
    ctx.fence()  # the export folder is shared with any other run of this job
    metrics["export"] = _export(model, data, config, workdir / "export")
    if params.int8:
        ctx.progress(1.0, "quantizing to int8", milestone=True)
        metrics["int8"] = _int8_export(workdir / "export", data.batches, metrics["accuracy"])
    view = View.from_spec(ctx.catalog, params.view)
    recorded_view = {
        **json.loads(view.to_json()),
        **({"augmented": data.augmented} if data.augmented else {}),
    }
    store.publish_folder(workdir / "export")
    export = store.reference(workdir / "export")
    model_id = _record_model(
        ctx.catalog, ctx.job_id, params.name or view.dataset, config, data.classes, recorded_view,
        data.train_ids(), metrics, store.reference(best), export,
    )  # fmt: skip
    return {"model_id": model_id, "accuracy": metrics["accuracy"], "export_dir": export}


def exact_floor(batch_size: int, settings: Settings) -> int:
    """The smallest halving of ``batch_size`` that divides it, down to the floor: its gradients
    accumulated make the same optimizer steps, so a run resumed at it keeps the schedule."""
    size = batch_size
    while size // 2 >= settings.jobs.min_batch_size and batch_size % (size // 2) == 0:
        size //= 2
    return size


@dataclass
class _Prepared:
    """The frozen view, decoded into the tensor cache, split, with what the model will record."""

    batches: Any  # CachedImageData
    cache_ids: np.ndarray
    keep: dict[str, np.ndarray]  # split -> positions in the cache
    classes: list[str]
    by_id: dict[int, ImageRecord]
    augmented: list[str]
    facts: dict[str, Any]

    def train_ids(self) -> list[int]:
        return sorted(int(self.cache_ids[i]) for i in self.keep["train"])


def _prepare(ctx: JobContext[Any], params: TrainParams, config: TrainConfig) -> _Prepared:
    from workbench.ml.cache import CacheItem, build_cache
    from workbench.ml.data import Augment, CachedImageData

    catalog = ctx.catalog
    view = View.from_spec(catalog, params.view)
    records = frozen_records(view)
    splits = split_indices(records, config.seed)
    in_view = len(records)
    records, splits, augmented = with_augmented(catalog, view, params.augmented, records, splits)
    leaked = leakage(records, splits)
    classes = sorted({r.label for r in records})
    ctx.progress(0.0, f"{len(records):,} images, {len(classes)} classes; decoding", milestone=True)
    items = [CacheItem(r.id, r.sha256, str(catalog.store.blob_path(r.sha256))) for r in records]
    cache = build_cache(
        items, config.image_size, ctx.settings.data_dir / "cache",
        progress=lambda d, n: ctx.progress(0.0, f"decoding {d:,}/{n:,} images"),
    )  # fmt: skip
    position = {image_id: i for i, image_id in enumerate(cache.ids.tolist())}
    keep = {
        name: np.array([position[records[i].id] for i in idx if records[i].id in position], np.int64)
        for name, idx in splits.items()
    }
    index_of = {c: i for i, c in enumerate(classes)}
    by_id = {r.id: r for r in records}
    targets = np.array([index_of[by_id[i].label] for i in cache.ids.tolist()], dtype=np.int64)
    batches = CachedImageData(
        cache.array, targets, keep, batch_size=config.batch_size, seed=config.seed,
        augment=Augment(hflip=config.hflip), channels_last=config.channels_last,
    )  # fmt: skip
    facts = {
        "augmented_images": len(records) - in_view, "leakage": leaked, "skipped": cache.skipped,
        "split_sizes": {k: len(v) for k, v in keep.items()},
    }  # fmt: skip
    return _Prepared(batches, cache.ids, keep, classes, by_id, augmented, facts)


def _evaluate(model: Any, data: _Prepared) -> dict[str, Any]:
    """Test-split metrics (the validation split when there is no test split), with the facts of
    what the model was trained on."""
    from workbench.ml.metrics import evaluate

    test = data.keep["test"] if len(data.keep["test"]) else data.keep["val"]
    logits, targets = _logits(model, data.batches.test_dataloader())
    test_ids = data.cache_ids[np.sort(test)].tolist()
    attributes = [data.by_id[i].attributes for i in test_ids]
    return evaluate(logits, targets, data.classes, ids=test_ids, attributes=attributes) | data.facts


def _export(model: Any, data: _Prepared, config: TrainConfig, export_dir: Path) -> dict[str, Any]:
    """ONNX (checked against torch on test images) and the weights beside it."""
    import torch

    from workbench.ml.data import IMAGENET_MEAN, IMAGENET_STD
    from workbench.ml.export import export
    from workbench.ml.files import atomic_path

    sample = next(iter(data.batches.test_dataloader()))[0][:16]
    exported = export(
        model.model, export_dir, classes=data.classes, image_size=config.image_size, mean=IMAGENET_MEAN,
        std=IMAGENET_STD, check_images=sample,
    )  # fmt: skip
    with atomic_path(export_dir / "model.ckpt") as partial:
        torch.save({"state_dict": model.state_dict()}, partial)
    return exported


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


def _logits(model: Any, batches: Iterable[Any]) -> tuple[np.ndarray, np.ndarray]:
    import torch

    outputs, targets = [], []
    with torch.no_grad():
        for images, labels in batches:
            outputs.append(model(images).float().numpy())
            targets.append(labels.numpy())
    return np.concatenate(outputs), np.concatenate(targets)


@retrying
def _record_model(
    catalog: Catalog,
    job_id: str,
    name: str,
    config: TrainConfig,
    classes: list[str],
    view: dict[str, Any],
    train_ids: list[int],
    metrics: dict[str, Any],
    checkpoint: str,
    export_dir: str,
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
        row.metrics, row.checkpoint_path, row.export_dir = metrics, checkpoint, export_dir
        session.flush()
        return row.id
