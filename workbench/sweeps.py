"""Sweeps: one call trains several configurations of a view (architectures, learning rates, image
sizes) as a group, then makes the group's comparison report and marks the best model.

A sweep is a fan-out job (kind ``sweep``) whose chunks are its trainings, sent one at a time: each
waits at the back of the training queue behind whatever other people queued meanwhile, so a
sweep of twelve takes turns with everyone else instead of holding the workers for twelve
trainings. On the embedded default it trains them one after another in one job. The last one
records the result: every model's id and test accuracy, the best (marked in its metrics as
``sweep.best``), and the comparison report.
"""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import Field, ValidationError, field_validator
from sqlalchemy import update

from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.catalog.retry import retrying
from workbench.errors import TrainingError
from workbench.jobs.fanout import Chunk, ChunkParams, FanIn, FanOut, Plan
from workbench.jobs.kind import JobParams, describe, job_kind
from workbench.jobs.runner import JobContext
from workbench.ml.models import ARCHITECTURES
from workbench.training import TrainParams, train_with
from workbench.views import View, ViewSpec

MAX_CONFIGURATIONS = 24
CPU_ARCHITECTURES = ("resnet18", "mobilenet_v3_small", "efficientnet_b0")  # what a CPU trains well


class SweepParams(JobParams):
    """The view, the values to sweep (every combination is trained), and the rest of the
    training configuration, the same for all."""

    view: ViewSpec = Field(description="the images to train on")
    name: str | None = Field(None, max_length=200, description="the models' name (default: the dataset's)")
    archs: list[str] = Field(["resnet18"], min_length=1, max_length=8, description="architectures")
    lrs: list[float] = Field([2e-3], min_length=1, max_length=8, description="peak learning rates")
    image_sizes: list[int] = Field([32], min_length=1, max_length=8, description="image sizes (px)")
    train: dict[str, Any] = Field(
        default_factory=dict, description="the rest of the training configuration: epochs, batch_size..."
    )

    @field_validator("archs")
    @classmethod
    def _known(cls, archs: list[str]) -> list[str]:
        unknown = [a for a in archs if a not in ARCHITECTURES]
        if unknown:
            raise ValueError(f"unknown architecture {unknown[0]!r}; choose from {', '.join(ARCHITECTURES)}")
        return archs

    def configurations(self) -> list[dict[str, Any]]:
        combos = itertools.product(
            dict.fromkeys(self.archs), dict.fromkeys(self.lrs), dict.fromkeys(self.image_sizes)
        )
        return [{"arch": a, "lr": lr, "image_size": size} for a, lr, size in combos]

    def training(self, configuration: dict[str, Any], dataset: str) -> TrainParams:
        label = f"{configuration['arch']} lr={configuration['lr']:g} {configuration['image_size']}px"
        return TrainParams.model_validate(
            {**self.train, **configuration, "view": self.view, "name": f"{self.name or dataset} · {label}"}
        )

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        configurations = self.configurations()
        if len(configurations) > MAX_CONFIGURATIONS:
            raise ValueError(
                f"{len(configurations)} configurations: a sweep trains at most {MAX_CONFIGURATIONS}; "
                "sweep fewer values at once"
            )
        dataset = View.from_spec(catalog, self.view).dataset
        for configuration in configurations:  # each one as a training job would check it
            try:
                training = self.training(configuration, dataset)
            except ValidationError as exc:  # said in one line, as every kind's parameters are
                raise ValueError(describe(exc, TrainParams)) from None
            training.check(catalog, job_id)


def _plan(ctx: JobContext[SweepParams]) -> Plan:
    return Plan(parts=[{"configuration": c} for c in ctx.params.configurations()], context={})


def _train_one(ctx: JobContext[ChunkParams], chunk: Chunk[SweepParams]) -> dict[str, Any]:
    dataset = View.from_spec(ctx.catalog, chunk.params.view).dataset
    result = train_with(ctx, chunk.params.training(chunk.part["configuration"], dataset))
    return {"configuration": chunk.part["configuration"], **result}


def _finish(catalog: Catalog, params: SweepParams, fan_in: FanIn) -> tuple[dict[str, Any], str]:
    return conclude(catalog, fan_in.parent_id, fan_in.results)


def conclude(catalog: Catalog, sweep_id: str, results: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """Mark the best model of the group and make the comparison report of the group."""
    from workbench.reports import run_report

    best = max(results, key=lambda r: r["accuracy"])
    _mark(catalog, sweep_id, [r["model_id"] for r in results], best["model_id"])
    report = run_report(catalog, "comparison", {"model_ids": [r["model_id"] for r in results]})
    summary = [{k: r[k] for k in ("configuration", "model_id", "accuracy")} for r in results]
    message = (
        f"{len(results)} models trained; the best: model {best['model_id']} "
        f"({best['configuration']['arch']}, lr {best['configuration']['lr']:g}, "
        f"{best['configuration']['image_size']} px), {best['accuracy']:.1%} accurate; report {report['id']}"
    )
    return {"models": summary, "best_model_id": best["model_id"], "report_id": report["id"]}, message


@retrying
def _mark(catalog: Catalog, sweep_id: str, model_ids: list[int], best: int) -> None:
    with catalog.transaction() as session:
        for model in session.query(Model).filter(Model.id.in_(model_ids)):
            metrics = dict(model.metrics or {})
            metrics["sweep"] = {"job": sweep_id, "best": model.id == best, "group": model_ids}
            session.execute(update(Model).where(Model.id == model.id).values(metrics=metrics))


@job_kind(
    "sweep", queue="training", params=SweepParams, error=TrainingError,
    fanout=FanOut(_plan, _train_one, _finish, one_at_a_time=True),
)  # fmt: skip
def sweep_job(ctx: JobContext[SweepParams]) -> dict[str, Any]:
    """In one process (the embedded default): every configuration in turn, then the conclusion."""
    configurations = ctx.params.configurations()
    dataset = View.from_spec(ctx.catalog, ctx.params.view).dataset
    results = []
    for index, configuration in enumerate(configurations):
        ctx.progress(
            index / len(configurations), f"training {index + 1} of {len(configurations)}", milestone=True
        )
        result = train_with(ctx, ctx.params.training(configuration, dataset), run=f"{ctx.job_id}-{index}")
        results.append({"configuration": configuration, **result})
        ctx.check_abort()
    result, message = conclude(ctx.catalog, ctx.job_id, results)
    ctx.progress(1.0, message, milestone=True)
    return result
