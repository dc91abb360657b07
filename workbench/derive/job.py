"""The ``augment`` job kind (imagery queue): its parameters, checked before queueing and on the
worker, and the job that makes the dataset (an abort removes it, a redelivery resumes it). With a
broker, more copies than one chunk fan out over every worker (``workbench.derive.fanout``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from workbench.augment import Recipe
from workbench.catalog import Catalog
from workbench.derive import augment_view, name_is_free
from workbench.derive.fanout import AUGMENT_FANOUT
from workbench.errors import AugmentError
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.runner import JobContext
from workbench.views import View, ViewSpec

MAX_COPIES = 100
CHUNK_COPIES = 2048  # copies per chunk job: seconds of a worker's time, worth a message and a row


class AugmentParams(JobParams):
    view: ViewSpec = Field(description="the images to augment")
    recipe: dict[str, Any] = Field(description='ops and their parameters, e.g. {"hflip": 0.5, "rotate": 15}')
    copies: int = Field(1, description=f"augmented copies of each image, 1 to {MAX_COPIES}")
    seed: int = Field(0, description="the same seed gives the same images")
    name: str = Field(description="the new dataset's name")
    processes: int | None = Field(None, ge=1, description="processes making copies (default: one per core)")
    chunk: int = Field(
        CHUNK_COPIES, ge=1, le=100_000, description="copies per chunk when the job fans out over workers"
    )

    @field_validator("recipe", mode="before")
    @classmethod
    def _recipe(cls, recipe: Any) -> dict[str, Any]:
        try:
            return Recipe.parse(recipe).to_dict()  # the message lists the valid ops and ranges
        except AugmentError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("copies", mode="before")
    @classmethod
    def _copies(cls, copies: Any) -> int:
        if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
            raise ValueError(f"copies must be a whole number from 1 to {MAX_COPIES}; got {copies!r}")
        return copies

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, seed: Any) -> int:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1; got {seed!r}")
        return seed

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, name: Any) -> str:
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise ValueError(f"the new dataset needs a name of 1 to 256 characters (--name); got {name!r}")
        return name

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        if not name_is_free(catalog, self.name, job_id):
            with catalog.sessions() as session:
                names = ", ".join(catalog.dataset_names(session))
            raise ValueError(
                f"a dataset named {self.name!r} already exists; choose another name (yours: {names})"
            )
        view = View.from_spec(catalog, self.view)
        if view.count() == 0:
            raise ValueError(f"{view!r} has no images: nothing to augment (check its filter)")


@job_kind("augment", queue="imagery", params=AugmentParams, error=AugmentError, fanout=AUGMENT_FANOUT)
def augment_job(ctx: JobContext[AugmentParams]) -> dict[str, Any]:
    def progress(done: int, total: int) -> None:
        ctx.progress(done / total if total else 1.0, f"{done:,} of {total:,} copies", milestone=True)

    report = augment_view(
        ctx.catalog, ctx.params, job_id=ctx.job_id, progress=progress, checkpoint=ctx.check_abort,
        undo_on_failure=lambda: not ctx.lost,
    )  # fmt: skip
    ctx.progress(1.0, report.summary(), milestone=True)
    return report.to_dict()
