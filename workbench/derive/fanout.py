"""Augmentation fanned out over the workers of the imagery queue (``workbench.jobs.fanout``).

The plan opens the dataset and hands each chunk an id range of the source view; a chunk makes,
stores and inserts the copies of its sources like one chunk of ``augment_view`` (a copy is a
pure function of recipe, seed, source and copy index, so the images are the same however the
work is cut); the fan-in counts the labels and makes the dataset visible. The undo removes the
dataset and the blobs no other image uses.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from workbench.augment import Recipe
from workbench.catalog import Catalog, Image
from workbench.catalog.datasets import undo
from workbench.derive import AugmentReport, finish_dataset, new_blobs_of, open_dataset
from workbench.derive.chunk import CopyMaker, insert_made, pending_sources, source_tuple
from workbench.disk import OutOfSpace
from workbench.errors import DiskFullError
from workbench.jobs import metrics
from workbench.jobs.fanout import Chunk, ChunkParams, FanIn, FanOut, Plan
from workbench.ml.files import no_space
from workbench.views import View

if TYPE_CHECKING:
    from workbench.derive.job import AugmentParams
    from workbench.jobs.runner import JobContext


def _sources_per_chunk(p: AugmentParams) -> int:
    return max(1, p.chunk // p.copies)  # ``chunk`` counts the copies made


def plan(ctx: JobContext[AugmentParams]) -> Plan | None:
    """An id range of the source view per chunk; None when the copies fit one chunk."""
    p = ctx.params
    view = View.from_spec(ctx.catalog, p.view)
    per_chunk = _sources_per_chunk(p)
    if view.count() <= per_chunk:
        return None
    ranges = view.id_ranges(per_chunk)
    dataset_id = open_dataset(ctx.catalog, view, p, ctx.job_id)
    context = {"dataset_id": dataset_id, "started": time.time()}
    return Plan([{"after": after, "upto": upto} for after, upto in ranges], context)


def run_chunk(ctx: JobContext[ChunkParams], chunk: Chunk[AugmentParams]) -> dict[str, Any]:
    """Make and insert the copies of this chunk's sources not in the dataset yet."""
    p, catalog, dataset_id = chunk.params, ctx.catalog, chunk.context["dataset_id"]
    records = View.from_spec(catalog, p.view).between(chunk.part["after"], chunk.part["upto"])
    pending = pending_sources(catalog, dataset_id, records, p.copies)
    maker = CopyMaker(catalog.store, Recipe.parse(p.recipe), p.seed, p.copies)
    new_blobs: list[str] = []
    try:
        made = maker.run([source_tuple(record) for record in pending])
        new_blobs = new_blobs_of(made)
        full = [entry for entry in made if isinstance(entry, OutOfSpace)]
        if full:
            raise DiskFullError(f"{no_space(ctx.settings.data_dir)}: {full[0].reason}")
        ctx.check_abort()
        copies = [entry for entry in made if not isinstance(entry, OutOfSpace)]
        result = insert_made(catalog, dataset_id, {r.id: r for r in pending}, copies)
    except BaseException:
        if not ctx.lost:  # lost: another delivery of this chunk may be using the same blobs
            undo(catalog, dataset_id, whole=False, new_blobs=new_blobs)
        raise
    ctx.progress(1.0, f"{len(records) * p.copies:,} copies", milestone=True)
    skipped = [{"source_image_id": s.source_id, "reason": s.reason} for s in result.skipped]
    metrics.images("augmented", result.inserted)
    return {"added": result.inserted, "skipped": skipped}


def finish(catalog: Catalog, p: AugmentParams, fan_in: FanIn) -> tuple[dict[str, Any], str]:
    """Count the labels and make the dataset visible; the report sums the chunks'."""
    report = AugmentReport(p.name, sources=View.from_spec(catalog, p.view).count(), copies=p.copies)
    for result in fan_in.results:
        report.added += result["added"]
        report.skipped += result["skipped"]
    report.labels = finish_dataset(catalog, fan_in.context["dataset_id"])
    report.images = sum(report.labels.values())
    report.seconds = time.time() - fan_in.context["started"]
    return report.to_dict(), report.summary()


def undo_run(catalog: Catalog, p: AugmentParams, context: dict[str, Any]) -> None:
    """Remove the dataset and the blobs only it used (every chunk has stopped writing by now)."""
    dataset_id = context["dataset_id"]
    with catalog.sessions() as session:
        made = list(session.scalars(select(Image.sha256).where(Image.dataset_id == dataset_id)))
    undo(catalog, dataset_id, whole=True, new_blobs=made)


AUGMENT_FANOUT: FanOut[AugmentParams] = FanOut(plan, run_chunk, finish, undo_run)
