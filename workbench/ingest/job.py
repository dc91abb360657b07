"""The ``ingest`` job kind (imagery queue). An abort undoes this run's rows and blobs, like a
failure; a redelivered job resumes, skipping the images already in the dataset. With a broker,
more files than one chunk fan out over every worker of the queue (``workbench.ingest.fanout``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from workbench.catalog import Catalog
from workbench.errors import IngestError
from workbench.ingest import ingest, refuse_existing
from workbench.ingest.fanout import INGEST_FANOUT
from workbench.ingest.names import check_dataset_name
from workbench.ingest.sources import local_path
from workbench.ingest.split import parse_fractions
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.runner import JobContext

# Files per chunk, at most: a chunk costs about 40 ms besides its files (a claim, the parent's row,
# the hash check, counting, messages), which at 2,048 small files was a fifth of its time and held
# two workers to 1.3x one process; at 10,000, 1.6x (docs/benchmarks.md). The plan still cuts
# evenly into a multiple of the workers, and a chunk reports progress as it goes.
CHUNK_FILES = 10_000


class IngestParams(JobParams):
    path: str = Field(
        description="an ImageFolder directory or a zip of one, as the worker sees it, or the "
        "object-store reference Workbench.share gave for one"
    )
    name: str = Field(description="the dataset to create or add to")
    labels_csv: str | None = Field(None, description="a CSV with one row per image")
    label_column: str | None = Field(None, description="the CSV column holding the label")
    id_column: str = Field("id", description="the CSV column naming the image")
    split: str | None = Field(None, description="train,val[,test] fractions, e.g. 0.8,0.1,0.1")
    seed: int = Field(0, ge=0, description="seed of the split")
    processes: int | None = Field(
        None, ge=1, description="processes preparing images (default: one per core)"
    )
    append: bool = Field(False, description="add to the dataset if it exists (else that is refused)")
    chunk: int = Field(
        CHUNK_FILES, ge=1, le=100_000, description="files per chunk when the job fans out over workers"
    )

    def source(self, catalog: Catalog) -> Path:
        """The images as a local path on this worker (fetched from the object store when the
        path is a reference: a dashboard upload made on another host)."""
        return local_path(catalog, self.path)

    def labels(self, catalog: Catalog) -> Path | None:
        return None if self.labels_csv is None else local_path(catalog, self.labels_csv)

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        if not self.append:
            try:
                refuse_existing(catalog, self.name, job_id)
            except IngestError as exc:
                raise ValueError(str(exc)) from None

    @field_validator("name")
    @classmethod
    def _named(cls, name: str) -> str:
        try:
            return check_dataset_name(name)  # before the job is queued: no SQL sees a bad name
        except IngestError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("split")
    @classmethod
    def _fractions(cls, split: str | None) -> str | None:
        if split is not None:
            try:
                parse_fractions(split)
            except IngestError as exc:  # its message says what is valid
                raise ValueError(str(exc)) from None
        return split


@job_kind("ingest", queue="imagery", params=IngestParams, error=IngestError, fanout=INGEST_FANOUT)
def ingest_job(ctx: JobContext[IngestParams]) -> dict[str, Any]:
    p = ctx.params

    def progress(done: int, total: int) -> None:
        ctx.progress(done / total if total else 1.0, f"{done:,} of {total:,} images", milestone=True)

    report = ingest(
        ctx.catalog, p.source(ctx.catalog), p.name, labels_csv=p.labels(ctx.catalog),
        label_column=p.label_column, id_column=p.id_column, split=p.split, seed=p.seed,
        processes=p.processes, progress=progress, checkpoint=ctx.check_abort, append=p.append,
        job_id=ctx.job_id,
    )  # fmt: skip
    ctx.progress(1.0, report.summary(), milestone=True)
    return report.to_dict()
