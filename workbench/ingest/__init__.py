"""Folder/zip/CSV -> catalog rows and blobs, safe against hostile input.

``ingest`` reads as its steps: open and validate the source, list what to take, open (or resume)
the dataset, ingest chunk by chunk, then assign splits and make the dataset visible. A failure
undoes this run's rows and blobs; a crash leaves the dataset hidden and a re-run resumes it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workbench.catalog import Catalog, Dataset, Image
from workbench.catalog.datasets import DatasetKind, DatasetStatus, finish, undo
from workbench.catalog.retry import retrying
from workbench.disk import OutOfSpace, disk_full_error, hold_reserve, is_disk_full
from workbench.errors import DiskFullError, IngestError
from workbench.ingest.chunk import (
    ChunkResult,
    ImagePreparer,
    insert_prepared,
    new_blobs_of,
    prepare_pool,
)
from workbench.ingest.items import IngestReport, Item, Skipped
from workbench.ingest.names import check_dataset_name
from workbench.ingest.sources import open_source
from workbench.ingest.split import assign_splits, parse_fractions
from workbench.jobs import metrics
from workbench.ml.files import no_space
from workbench.pool import batched, default_processes, drain

__all__ = ["IngestReport", "ingest"]

Progress = Callable[[int, int], None]  # (images done, images in all)
CHUNK_SIZE = 1024  # images per insert (a transaction) and per progress step


def ingest(
    catalog: Catalog,
    path: Path | str,
    name: str,
    *,
    labels_csv: Path | str | None = None,
    label_column: str | None = None,
    id_column: str = "id",
    split: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    processes: int | None = None,
    checkpoint: Callable[[], None] | None = None,
    append: bool = False,
    job_id: str | None = None,
) -> IngestReport:
    """Ingest ``path`` into the dataset ``name``; ``processes`` (default: one per core) read,
    check and store images in parallel (1: all in this process). ``checkpoint`` is called after
    each chunk; whatever it raises (a job's abort) stops the ingest and undoes this run. An
    existing dataset is added to only with ``append`` (a typo must not mix two datasets), or
    when it is this job's own from an earlier delivery (``job_id``)."""
    started = time.perf_counter()
    check_dataset_name(name)  # before anything is read or written
    if not append:
        refuse_existing(catalog, name, job_id)
    hold_reserve(catalog.settings)  # room to undo and to say so, should the disk fill
    fractions = parse_fractions(split) if split else None
    csv_path = Path(labels_csv) if labels_csv is not None else None
    source, table = open_source(Path(path), catalog.settings.limits, csv_path, label_column, id_column)
    report = IngestReport(dataset=name)
    try:
        entries = list(source.entries(table))
        items = [e for e in entries if isinstance(e, Item)]
        report.skipped = [e for e in entries if isinstance(e, Skipped)]
        report.csv_issues = table.issues if table else []
        dataset_id, created = open_dataset(
            catalog, name, str(Path(path).absolute()), table.types if table else {}, job_id
        )
        done = ChunkResult()
        new_blobs: list[str] = []  # written by this run: the undo deletes those no image uses
        processes = processes or default_processes()
        pool = None
        full: list[OutOfSpace] = []  # set when the disk fills
        stopping: list[bool] = []  # set at a full disk or a failure: no more chunks are handed out
        chunks = itertools.takewhile(lambda _: not stopping, batched(items, CHUNK_SIZE))
        if processes > 1 and len(items) > CHUNK_SIZE:  # a fork costs more than a small ingest
            pool = prepare_pool(source.path, catalog.store, catalog.settings.limits, processes)
            prepared_chunks = pool.run_all(chunks)
        else:
            preparer = ImagePreparer(source.reader, catalog.store, catalog.settings.limits)
            prepared_chunks = map(preparer.run, chunks)
        held: set[str] | None = set() if created else None  # a new dataset holds what we add
        try:
            for prepared in prepared_chunks:
                new_blobs += new_blobs_of(prepared)  # known before an insert can fail
                full += [entry for entry in prepared if isinstance(entry, OutOfSpace)]
                if full:  # the chunks already out are drained for the blobs they wrote
                    stopping.append(True)
                    continue
                images = [entry for entry in prepared if not isinstance(entry, OutOfSpace)]
                result = insert_prepared(catalog, dataset_id, images, held)
                if held is not None:
                    held.update(result.inserted)
                _merge(done, result)
                if progress is not None:
                    progress(len(done.inserted) + done.duplicates + len(done.skipped), len(items))
                if checkpoint is not None:
                    checkpoint()
            if full:
                raise DiskFullError(f"{no_space(catalog.settings.data_dir)}: {full[0].reason}")
            report.duplicates, report.ingested = done.duplicates, len(done.inserted)
            metrics.images("ingested", report.ingested)
            report.skipped += done.skipped
            finish_ingest(catalog, dataset_id, fractions, seed, report)
        except BaseException as exc:
            stopping.append(True)
            if pool is not None:  # the chunk already out wrote blobs too; then none behind the undo's back
                new_blobs += drain(prepared_chunks, new_blobs_of)
                pool.close()
            undo(catalog, dataset_id, whole=created, rows=done.inserted, new_blobs=new_blobs)
            if is_disk_full(exc):
                raise disk_full_error(catalog.settings, exc) from exc
            raise
        finally:
            if pool is not None:
                pool.close()
    finally:
        source.close()
    report.seconds = time.perf_counter() - started
    return report


@retrying
def refuse_existing(catalog: Catalog, name: str, job_id: str | None) -> None:
    """IngestError when ``name`` is a dataset already, unless a run of this job made it, or a
    crashed run left it hidden (a re-run resumes those)."""
    with catalog.sessions() as session:
        dataset = catalog.find_dataset(session, name)
        if dataset is None or dataset.status != DatasetStatus.READY:
            return
        if job_id is not None and dataset.params.get("job_id") == job_id:
            return
        images = sum(dataset.label_counts.values())
    raise IngestError(
        f"a dataset named {name!r} exists already ({images:,} images): add to it with --append "
        "(append=True), or choose another --name"
    )


@retrying
def open_dataset(
    catalog: Catalog, name: str, source: str, types: dict[str, str], job_id: str | None
) -> tuple[int, bool]:
    """The dataset to ingest into, created hidden (``ingesting``) when new; attribute types merged."""
    if not name.strip():
        raise IngestError("the dataset needs a name (--name)")
    with catalog.transaction() as session:
        dataset = catalog.find_dataset(session, name)
        created = dataset is None
        if dataset is None:
            dataset = Dataset(
                owner=catalog.user, name=name, kind=DatasetKind.SOURCE, status=DatasetStatus.INGESTING,
                source=source, attribute_types={}, params={"job_id": job_id} if job_id else {},
            )  # fmt: skip
            session.add(dataset)
        dataset.attribute_types = _merge_types(dataset.attribute_types, types)
        session.flush()
        return dataset.id, created


@retrying
def finish_ingest(
    catalog: Catalog, dataset_id: int, fractions: tuple[float, ...] | None, seed: int, report: IngestReport
) -> None:
    with catalog.transaction() as session:
        if fractions is not None:
            unassigned = session.execute(
                select(Image.id, Image.label, Image.sha256).where(
                    Image.dataset_id == dataset_id, Image.split.is_(None)
                )
            ).all()
            by_split: dict[str, list[int]] = {}
            for image_id, name in assign_splits(unassigned, fractions, seed).items():
                by_split.setdefault(name, []).append(image_id)
            for name, ids in by_split.items():
                for batch in batched(ids, 10_000):
                    session.execute(update(Image).where(Image.id.in_(batch)).values(split=name))
        report.labels = finish(session, dataset_id)
        report.splits = {k: v for k, v in _counts(session, dataset_id, Image.split).items() if k}
        if not report.labels:
            reasons = "; ".join(f"{s.file}: {s.reason}" for s in report.skipped[:3])
            raise IngestError(
                f"no image could be ingested into {report.dataset!r}"
                + (
                    f" ({len(report.skipped)} files skipped, e.g. {reasons})"
                    if reasons
                    else " (no files found)"
                )
            )


def _counts(session: Session, dataset_id: int, column: Any) -> dict[Any, int]:
    query = select(column, func.count()).where(Image.dataset_id == dataset_id).group_by(column)
    return {key: n for key, n in session.execute(query).all()}


def _merge(total: ChunkResult, part: ChunkResult) -> None:
    total.inserted += part.inserted
    total.duplicates += part.duplicates
    total.skipped += part.skipped


def _merge_types(old: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    merged = dict(old)
    for key, kind in new.items():
        previous = merged.get(key, kind)
        merged[key] = (
            kind if previous == kind else ("float" if {previous, kind} == {"int", "float"} else "str")
        )
    return merged
