"""The functions behind each kind of job: plain workbench calls wrapped with progress and abort."""

from __future__ import annotations

import time
from typing import Any

from workbench.errors import JobError
from workbench.ingest import ingest
from workbench.jobs.runner import JobContext, JobFunction


def ping(ctx: JobContext) -> dict[str, Any]:
    """An empty job of ``steps`` steps ``seconds`` apart: checks that workers are alive and
    measures the job machinery itself (submit-to-start latency, progress, abort)."""
    steps = int(ctx.params.get("steps", 0))
    seconds = float(ctx.params.get("seconds", 0.0))
    for step in range(steps):
        time.sleep(seconds)
        ctx.check_abort()
        ctx.progress((step + 1) / steps, f"step {step + 1} of {steps}", milestone=True)
    return {"steps": steps, "worker": ctx.worker}


INGEST_PARAMS = ("path", "name", "labels_csv", "label_column", "id_column", "split", "seed")


def ingest_job(ctx: JobContext) -> dict[str, Any]:
    """Ingest on the imagery queue. An abort undoes this run's rows and blobs (like a failure);
    a redelivered job resumes, skipping the images already in the dataset."""
    unknown = set(ctx.params) - set(INGEST_PARAMS) - {"processes"}
    if unknown or "path" not in ctx.params or "name" not in ctx.params:
        raise JobError(f"an ingest job takes {', '.join(INGEST_PARAMS)}; got {sorted(ctx.params)}")

    def progress(done: int, total: int) -> None:
        ctx.progress(done / total if total else 1.0, f"{done:,} of {total:,} images", milestone=True)

    params = {k: ctx.params[k] for k in INGEST_PARAMS if ctx.params.get(k) is not None}
    report = ingest(
        ctx.catalog, **params, processes=ctx.params.get("processes"), progress=progress,
        checkpoint=ctx.check_abort,
    )  # fmt: skip
    ctx.progress(1.0, report.summary(), milestone=True)
    return report.to_dict()


def augment(ctx: JobContext) -> dict[str, Any]:
    """A derived dataset on the imagery queue; an abort removes it, a redelivery resumes it."""
    from workbench.derive import augment_job

    return augment_job(ctx)


def train(ctx: JobContext) -> dict[str, Any]:
    """Training on the torch worker; an abort keeps the checkpoints (see workbench.training)."""
    from workbench.training import train_job

    return train_job(ctx)


def predict(ctx: JobContext) -> dict[str, Any]:
    """Batch inference on the torch worker; an abort keeps the predictions written so far."""
    from workbench.inference import predict_job

    return predict_job(ctx)


def evaluate(ctx: JobContext) -> dict[str, Any]:
    """A model's metrics on any view, stored with the model."""
    from workbench.inference import evaluate_job

    return evaluate_job(ctx)


def report(ctx: JobContext) -> dict[str, Any]:
    """A report notebook executed by papermill, kept as HTML (see workbench.reports)."""
    from workbench.reports import report_job

    return report_job(ctx)


KINDS: dict[str, JobFunction] = {
    "ping": ping, "ingest": ingest_job, "augment": augment, "train": train, "predict": predict,
    "evaluate": evaluate, "report": report,
}  # fmt: skip
