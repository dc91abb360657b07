"""Derived datasets: a view augmented into a new dataset of kind ``augmented``.

``augment_view`` reads as its steps: open (or resume) the dataset, augment chunk by chunk (a
process pool, one chunk ahead), then count labels and make it visible. Each image links to its
source image and keeps its label, split and attributes; the dataset keeps its parent, the recipe,
seed and copies. A failure or an abort removes what the job made; a crash leaves the dataset
hidden and the job, run again, resumes it (chunks skip what is there). The request is checked
before any of this by ``AugmentParams`` (``workbench.derive.job``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
from sqlalchemy import delete
from sqlalchemy.orm import Session

from workbench.augment import Recipe
from workbench.catalog import Catalog, Dataset, Image, Job
from workbench.catalog.datasets import DatasetKind, DatasetStatus, finish, undo
from workbench.catalog.retry import retrying
from workbench.derive.chunk import (
    CopyMaker,
    Failed,
    Made,
    copy_pool,
    insert_made,
    pending_sources,
    source_tuple,
)
from workbench.disk import OutOfSpace, disk_full_error, hold_reserve, is_disk_full
from workbench.errors import AugmentError, DiskFullError
from workbench.jobs import metrics
from workbench.jobs.records import FINISHED
from workbench.ml.files import no_space
from workbench.pool import batched, default_processes, drain
from workbench.views import ImageRecord, View

if TYPE_CHECKING:
    from workbench.derive.job import AugmentParams

__all__ = ["AugmentReport", "augment_view", "name_is_free"]

Progress = Callable[[int, int], None]  # (copies done, copies in all)
CHUNK_IMAGES = 512  # copies per chunk: the unit of progress, abort and resumption


@dataclass
class AugmentReport:
    dataset: str
    sources: int = 0
    copies: int = 0
    images: int = 0  # copies in the dataset at the end
    added: int = 0  # of which this run inserted
    skipped: list[dict[str, Any]] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        text = f"{self.images:,} images in {self.dataset!r}: {self.sources:,} sources x {self.copies} copies"
        if self.skipped:
            text += f", {len(self.skipped):,} sources skipped"
        return text + f" in {self.seconds:.1f} s"


def augment_view(
    catalog: Catalog,
    request: AugmentParams,
    *,
    job_id: str | None = None,
    progress: Progress | None = None,
    checkpoint: Callable[[], None] | None = None,
    undo_on_failure: Callable[[], bool] = lambda: True,
) -> AugmentReport:
    """Make the dataset ``request.name``; ``request.processes`` (default: one per core) make copies
    in parallel. ``checkpoint`` runs after each chunk; what it raises (an abort) undoes the job,
    unless ``undo_on_failure()`` says no (the job now runs elsewhere, on the same dataset)."""
    started = time.perf_counter()
    view = View.from_spec(catalog, request.view)
    recipe = Recipe.parse(request.recipe)
    report = AugmentReport(request.name, sources=view.count(), copies=request.copies)
    dataset_id = open_dataset(catalog, view, request, job_id)
    maker = CopyMaker(catalog.store, recipe, request.seed, request.copies)
    per_chunk = max(1, CHUNK_IMAGES // request.copies)
    processes = request.processes or default_processes()
    pool = copy_pool(maker, processes) if processes > 1 and report.sources > per_chunk else None
    done, new_blobs = 0, []
    queued: deque[tuple[int, list[ImageRecord]]] = deque()  # chunks handed out, in order
    full: list[OutOfSpace] = []  # set when the disk fills
    stopping: list[bool] = []  # set at a full disk or a failure: no more chunks are handed out

    def work() -> Iterator[list[tuple[int, str, str]]]:
        for chunk in batched(view, per_chunk):
            if stopping:
                return
            pending = pending_sources(catalog, dataset_id, chunk, request.copies)
            queued.append((len(chunk), pending))
            yield [source_tuple(r) for r in pending]

    made_chunks = pool.run_all(work()) if pool is not None else map(maker.run, work())
    try:
        hold_reserve(catalog.settings)  # room to undo and to say so, should the disk fill
        for made in made_chunks:
            size, pending = queued.popleft()
            new_blobs += new_blobs_of(made)  # known before an insert can fail
            full += [entry for entry in made if isinstance(entry, OutOfSpace)]
            if full:  # the chunks already out are drained for the blobs they wrote
                stopping.append(True)
                continue
            copies = [entry for entry in made if not isinstance(entry, OutOfSpace)]
            result = insert_made(catalog, dataset_id, {r.id: r for r in pending}, copies)
            report.added += result.inserted
            metrics.images("augmented", result.inserted)
            report.skipped += [{"source_image_id": s.source_id, "reason": s.reason} for s in result.skipped]
            done += size * request.copies
            if progress is not None:
                progress(done, report.sources * request.copies)
            if checkpoint is not None:
                checkpoint()
        if full:
            raise DiskFullError(f"{no_space(catalog.settings.data_dir)}: {full[0].reason}")
        report.labels = finish_dataset(catalog, dataset_id)
        report.images = sum(report.labels.values())
    except BaseException as exc:
        stopping.append(True)
        if pool is not None:  # the chunk already out wrote blobs too; then none behind the undo's back
            new_blobs += drain(made_chunks, new_blobs_of)
            pool.close()
        if undo_on_failure():
            undo(catalog, dataset_id, whole=True, new_blobs=new_blobs)
        if is_disk_full(exc):
            raise disk_full_error(catalog.settings, exc) from exc
        raise
    finally:
        if pool is not None:
            pool.close()
    report.seconds = time.perf_counter() - started
    return report


def name_is_free(catalog: Catalog, name: str, job_id: str | None) -> bool:
    """Whether ``name`` may be given to a new augmented dataset: unused, this job's own (to
    resume), or a hidden augmented dataset whose maker is gone."""
    with catalog.sessions() as session:
        taken = catalog.find_dataset(session, name)
        return taken is None or _ours_or_abandoned(session, taken, job_id)


@retrying
def open_dataset(catalog: Catalog, view: View, request: AugmentParams, job_id: str | None) -> int:
    """The dataset to fill, created hidden; this job's own earlier attempt is resumed, a dead
    job's leftover replaced, and any other dataset of that name refused."""
    with catalog.transaction() as session:
        existing = catalog.find_dataset(session, request.name)
        if existing is not None:
            if not _ours_or_abandoned(session, existing, job_id):
                raise AugmentError(f"a dataset named {request.name!r} already exists; choose another name")
            if job_id is not None and existing.params.get("job_id") == job_id:
                return existing.id  # this job ran before and was cut short: resume
            session.execute(delete(Image).where(Image.dataset_id == existing.id))
            session.delete(existing)
            session.flush()
        parent = session.get_one(Dataset, view.dataset_id)
        recorded = request.model_dump(mode="json", exclude={"processes", "chunk"})  # not how it was cut
        dataset = Dataset(
            owner=catalog.user, name=request.name, kind=DatasetKind.AUGMENTED,
            status=DatasetStatus.AUGMENTING, parent_id=parent.id, source=f"augmented from {parent.name}",
            attribute_types=dict(parent.attribute_types),
            params={**recorded, "job_id": job_id, "opencv": cv2.__version__},
        )  # fmt: skip
        session.add(dataset)
        session.flush()
        return dataset.id


@retrying
def finish_dataset(catalog: Catalog, dataset_id: int) -> dict[str, int]:
    with catalog.transaction() as session:
        return finish(session, dataset_id)


def _ours_or_abandoned(session: Session, dataset: Dataset, job_id: str | None) -> bool:
    """Whether ``dataset`` is this job's own (to resume), or a hidden augmented dataset whose
    maker is gone (its job ended without finishing it, or a process running without a job)."""
    if dataset.kind != DatasetKind.AUGMENTED:
        return False
    owner = dataset.params.get("job_id")
    if job_id is not None and owner == job_id:
        return True
    if dataset.status != DatasetStatus.AUGMENTING:
        return False
    job = session.get(Job, owner) if owner is not None else None
    return job is None or job.state in FINISHED


def new_blobs_of(made: list[Made | Failed | OutOfSpace]) -> list[str]:
    return [entry.sha256 for entry in made if isinstance(entry, Made) and entry.new_blob]
