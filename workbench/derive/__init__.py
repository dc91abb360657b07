"""Derived datasets: a view augmented into a new dataset of kind ``augmented``.

``augment_view`` reads as its steps: check the request, open (or resume) the dataset, augment
chunk by chunk (a process pool, one chunk ahead), then count labels and make it visible. Each
image links to its source image and keeps its label, split and attributes; the dataset keeps its
parent, the recipe, seed and copies. A failure or an abort removes what the job made; a crash
leaves the dataset hidden and the job, run again, resumes it (chunks skip what is there).
"""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
from sqlalchemy import delete, select, update

from workbench.augment import Recipe
from workbench.catalog import Catalog, Dataset, Image, Job
from workbench.catalog.summaries import refresh_label_counts
from workbench.derive.chunk import CopyMaker, CopyPool, insert_made, pending_sources, source_tuple
from workbench.errors import AugmentError
from workbench.ingest.chunk import default_processes
from workbench.jobs.records import FINISHED
from workbench.views import ImageRecord, View

__all__ = ["AugmentReport", "AugmentRequest", "augment_view", "check_request", "submit_augment"]

Progress = Callable[[int, int], None]  # (copies done, copies in all)
CHUNK_IMAGES = 512  # copies per chunk: the unit of progress, abort and resumption
MAX_COPIES = 100
AUGMENTING = "augmenting"  # the status of a dataset being made: hidden until ready


@dataclass(frozen=True)
class AugmentRequest:
    """A checked request: what travels to the worker as the job's parameters."""

    view: dict[str, Any]
    recipe: dict[str, Any]
    copies: int
    seed: int
    name: str


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


def check_request(
    catalog: Catalog, view: View, recipe: Any, copies: Any, seed: Any, name: Any, *, job_id: str | None = None
) -> AugmentRequest:
    """Everything that can be wrong before any work: says what is valid, raises AugmentError."""
    parsed = Recipe.parse(recipe)
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        raise AugmentError(f"copies must be a whole number from 1 to {MAX_COPIES}; got {copies!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise AugmentError(f"seed must be a whole number from 0 to 2**63 - 1; got {seed!r}")
    if not isinstance(name, str) or not name.strip() or len(name) > 256:
        raise AugmentError(f"the new dataset needs a name of 1 to 256 characters (--name); got {name!r}")
    with catalog.sessions() as session:
        taken = _dataset(session, catalog, name)
        if taken is not None and not _ours_or_abandoned(session, taken, job_id):
            names = ", ".join(catalog.dataset_names(session))
            raise AugmentError(
                f"a dataset named {name!r} already exists; choose another name (yours: {names})"
            )
    if view.count() == 0:
        raise AugmentError(f"{view!r} has no images: nothing to augment (check its filter)")
    return AugmentRequest(json.loads(view.to_json()), parsed.to_dict(), copies, seed, name)


def augment_view(
    catalog: Catalog,
    request: AugmentRequest,
    *,
    job_id: str | None = None,
    progress: Progress | None = None,
    processes: int | None = None,
    checkpoint: Callable[[], None] | None = None,
    undo: Callable[[], bool] = lambda: True,
) -> AugmentReport:
    """Make the dataset ``request.name``; ``processes`` (default: one per core) make copies in
    parallel. ``checkpoint`` runs after each chunk; what it raises (an abort) undoes the job,
    unless ``undo()`` says no (the job now runs elsewhere, on the same dataset)."""
    started = time.perf_counter()
    view = View.from_json(catalog, request.view)
    recipe = Recipe.parse(request.recipe)
    report = AugmentReport(request.name, sources=view.count(), copies=request.copies)
    dataset_id = _open_dataset(catalog, view, request, job_id)
    maker = CopyMaker(catalog.store, recipe, request.seed, request.copies)
    per_chunk = max(1, CHUNK_IMAGES // request.copies)
    processes = processes or default_processes()
    pool = CopyPool(maker, processes) if processes > 1 and report.sources > per_chunk else None
    done, new_blobs = 0, []
    queued: deque[tuple[int, list[ImageRecord]]] = deque()  # chunks handed out, in order

    def work() -> Iterator[list[tuple[int, str, str]]]:
        for chunk in _batched(view, per_chunk):
            pending = pending_sources(catalog, dataset_id, chunk, request.copies)
            queued.append((len(chunk), pending))
            yield [source_tuple(r) for r in pending]

    try:
        for made in pool.run_all(work()) if pool is not None else map(maker.run, work()):
            size, pending = queued.popleft()
            result = insert_made(catalog, dataset_id, {r.id: r for r in pending}, made)
            new_blobs += result.new_blobs
            report.added += result.inserted
            report.skipped += [{"source_image_id": s.source_id, "reason": s.reason} for s in result.skipped]
            done += size * request.copies
            if progress is not None:
                progress(done, report.sources * request.copies)
            if checkpoint is not None:
                checkpoint()
        report.labels, report.images = _finish(catalog, dataset_id)
    except BaseException:
        if pool is not None:
            pool.close()  # no more blobs behind the undo's back
        if undo():
            _undo(catalog, dataset_id, new_blobs)
        raise
    finally:
        if pool is not None:
            pool.close()
    report.seconds = time.perf_counter() - started
    return report


def _open_dataset(catalog: Catalog, view: View, request: AugmentRequest, job_id: str | None) -> int:
    """The dataset to fill, created hidden; this job's own earlier attempt is resumed, a dead
    job's leftover replaced, and any other dataset of that name refused."""
    with catalog.transaction() as session:
        existing = _dataset(session, catalog, request.name)
        if existing is not None:
            if not _ours_or_abandoned(session, existing, job_id):
                raise AugmentError(f"a dataset named {request.name!r} already exists; choose another name")
            if job_id is not None and existing.params.get("job_id") == job_id:
                return existing.id  # this job ran before and was cut short: resume
            session.execute(delete(Image).where(Image.dataset_id == existing.id))
            session.delete(existing)
            session.flush()
        parent = session.get_one(Dataset, view.dataset_id)
        dataset = Dataset(
            owner=catalog.user, name=request.name, kind="augmented", status=AUGMENTING, parent_id=parent.id,
            source=f"augmented from {parent.name}", attribute_types=dict(parent.attribute_types),
            params={**asdict(request), "job_id": job_id, "opencv": cv2.__version__},
        )  # fmt: skip
        session.add(dataset)
        session.flush()
        return dataset.id


def _dataset(session: Any, catalog: Catalog, name: str) -> Dataset | None:
    query = select(Dataset).where(Dataset.owner == catalog.user, Dataset.name == name)
    return session.scalars(query).one_or_none()


def _ours_or_abandoned(session: Any, dataset: Dataset, job_id: str | None) -> bool:
    """Whether ``dataset`` is this job's own (to resume), or a hidden augmented dataset whose
    maker is gone (its job ended without finishing it, or a process running without a job)."""
    if dataset.kind != "augmented":
        return False
    owner = dataset.params.get("job_id")
    if job_id is not None and owner == job_id:
        return True
    if dataset.status != AUGMENTING:
        return False
    job = session.get(Job, owner) if owner is not None else None
    return job is None or job.state in FINISHED


def _finish(catalog: Catalog, dataset_id: int) -> tuple[dict[str, int], int]:
    with catalog.transaction() as session:
        labels = refresh_label_counts(session, dataset_id)
        session.execute(update(Dataset).where(Dataset.id == dataset_id).values(status="ready"))
    return labels, sum(labels.values())


def _undo(catalog: Catalog, dataset_id: int, new_blobs: list[str]) -> None:
    """Remove the dataset this job made and the blobs nothing else uses."""
    with catalog.transaction() as session:
        session.execute(delete(Image).where(Image.dataset_id == dataset_id))
        session.execute(delete(Dataset).where(Dataset.id == dataset_id))
    for batch in _batched(new_blobs, 10_000):
        with catalog.sessions() as session:
            still_used = set(session.scalars(select(Image.sha256).where(Image.sha256.in_(batch))))
        for sha256 in set(batch) - still_used:
            catalog.store.delete(sha256)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


# -- as a job ------------------------------------------------------------------------------------
AUGMENT_PARAMS = ("view", "recipe", "copies", "seed", "name")


def augment_job(ctx: Any) -> dict[str, Any]:
    """The ``augment`` job kind (imagery queue). Checked again here: the catalog may have changed
    since the request was queued."""
    unknown = set(ctx.params) - set(AUGMENT_PARAMS) - {"processes"}
    if unknown or not set(AUGMENT_PARAMS) <= set(ctx.params):
        raise AugmentError(f"an augment job takes {', '.join(AUGMENT_PARAMS)}; got {sorted(ctx.params)}")
    p = ctx.params
    view = View.from_json(ctx.catalog, p["view"])
    request = check_request(
        ctx.catalog, view, p["recipe"], p["copies"], p["seed"], p["name"], job_id=ctx.job_id
    )

    def progress(done: int, total: int) -> None:
        ctx.progress(done / total if total else 1.0, f"{done:,} of {total:,} copies", milestone=True)

    report = augment_view(
        ctx.catalog, request, job_id=ctx.job_id, progress=progress, processes=p.get("processes"),
        checkpoint=ctx.check_abort, undo=lambda: not ctx.lost,
    )  # fmt: skip
    ctx.progress(1.0, report.summary(), milestone=True)
    return report.to_dict()


def submit_augment(view: View, recipe: Any, *, copies: int, seed: int, name: str, **options: Any) -> Any:
    """Check the request here (errors come at once, not from a worker), then queue the job."""
    from workbench.jobs.client import submit

    request = check_request(view.catalog, view, recipe, copies, seed, name)
    return submit(view.catalog, "augment", {**asdict(request), **options})
