"""Ingest fanned out over the workers of the imagery queue (``workbench.jobs.fanout``).

The plan lists the source once, opens the dataset and hands each chunk a slice of the file list;
a chunk reads, hashes, stores and inserts its images like one chunk of ``ingest``; the fan-in
assigns the splits and makes the dataset visible. The undo removes the dataset when the run made
it, else the rows above the highest image id there was when it started, and then the blobs no
image uses any more.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from workbench.catalog import Catalog, Image
from workbench.catalog.datasets import undo
from workbench.catalog.retry import retrying
from workbench.disk import OutOfSpace
from workbench.errors import DiskFullError
from workbench.ingest import CHUNK_SIZE, finish_ingest, open_dataset
from workbench.ingest.chunk import ImagePreparer, Prepared, insert_prepared, new_blobs_of
from workbench.ingest.items import IngestReport, Item, Skipped
from workbench.ingest.sources import FileReader, open_source
from workbench.ingest.split import parse_fractions
from workbench.jobs import metrics
from workbench.jobs.fanout import Chunk, ChunkParams, FanIn, FanOut, Plan
from workbench.jobs.kind import kind_named
from workbench.jobs.queues import consumers
from workbench.ml.files import no_space
from workbench.pool import batched, even_parts

if TYPE_CHECKING:
    from workbench.ingest.job import IngestParams
    from workbench.jobs.runner import JobContext


# Files beyond which an ingest is shared out, when there are workers to share it with: a few
# seconds of one worker's time.
SHARED_FROM = 2048


def plan(ctx: JobContext[IngestParams]) -> Plan | None:
    """A slice of the file list per chunk; None when the files are too few to share."""
    p, catalog = ctx.params, ctx.catalog
    path = p.source(catalog)
    source, table = open_source(path, catalog.settings.limits, p.labels(catalog), p.label_column, p.id_column)
    try:
        entries = list(source.entries(table))
    finally:
        source.close()
    items = [entry for entry in entries if isinstance(entry, Item)]
    if len(items) <= min(p.chunk, SHARED_FROM):
        return None
    # Cut evenly, a multiple of the workers there are: none of them works alone on a remainder.
    parts = even_parts(items, p.chunk, max(1, consumers(ctx.settings, kind_named(ctx.kind).queue)))
    if len(parts) == 1:  # one worker, one chunk's worth: a message and a row would gain nothing
        return None
    start_id = _highest_image_id(catalog)  # read before the dataset can hold any row of ours
    dataset_id, created = open_dataset(
        catalog, p.name, str(path.absolute()), table.types if table else {}, ctx.job_id
    )
    context = {
        "dataset_id": dataset_id, "created": created, "start_id": start_id, "started": time.time(),
        "items": len(items),
        "skipped": [asdict(entry) for entry in entries if isinstance(entry, Skipped)],
        "csv_issues": table.issues if table else [],
    }  # fmt: skip
    return Plan([chunk_share(part) for part in parts], context)


def chunk_share(items: list[Item]) -> dict[str, Any]:
    """A chunk's files as columns, attributes only when there are any: a third of the JSON of
    one object per file, which the plan writes and the chunk and the fan-in read."""
    share: dict[str, Any] = {"names": [i.name for i in items], "labels": [i.label for i in items]}
    if any(i.attributes for i in items):
        share["attributes"] = [i.attributes for i in items]
    return share


def share_items(share: dict[str, Any]) -> list[Item]:
    names, labels = share["names"], share["labels"]
    attributes = share.get("attributes") or [{}] * len(names)
    return [Item(*item) for item in zip(names, labels, attributes, strict=True)]


@retrying
def _highest_image_id(catalog: Catalog) -> int:
    with catalog.sessions() as session:
        return int(session.scalar(select(func.max(Image.id))) or 0)


def run_chunk(ctx: JobContext[ChunkParams], chunk: Chunk[IngestParams]) -> dict[str, Any]:
    """Read, check, store and insert this chunk's files; run again, it writes each image once."""
    limits = ctx.settings.limits
    items = share_items(chunk.part)
    reader = FileReader(chunk.params.source(ctx.catalog), limits)
    preparer = ImagePreparer(reader, ctx.catalog.store, limits)
    prepared: list[Prepared | Skipped | OutOfSpace] = []
    new_blobs: list[str] = []
    try:
        # A chunk is many seconds of work: it says how far it is and hears an abort every
        # CHUNK_SIZE files, then inserts once (a re-run still writes each image once).
        for files in batched(items, CHUNK_SIZE):
            part = preparer.run(files)
            prepared += part
            new_blobs += new_blobs_of(part)  # known before an abort can come: the undo needs them
            full = [entry for entry in part if isinstance(entry, OutOfSpace)]
            if full:
                raise DiskFullError(f"{no_space(ctx.settings.data_dir)}: {full[0].reason}")
            ctx.check_abort()
            ctx.progress(len(prepared) / len(items), f"{len(prepared):,} of {len(items):,} files")
        images = [entry for entry in prepared if not isinstance(entry, OutOfSpace)]
        result = insert_prepared(ctx.catalog, chunk.context["dataset_id"], images)
    except BaseException:
        if not ctx.lost:  # lost: another delivery of this chunk may be using the same blobs
            undo(ctx.catalog, chunk.context["dataset_id"], whole=False, new_blobs=new_blobs)
        raise
    finally:
        reader.close()
    ctx.progress(1.0, f"{len(items):,} files", milestone=True)
    skipped = [asdict(entry) for entry in result.skipped]
    metrics.images("ingested", len(result.inserted))
    return {"ingested": len(result.inserted), "duplicates": result.duplicates, "skipped": skipped}


def finish(catalog: Catalog, p: IngestParams, fan_in: FanIn) -> tuple[dict[str, Any], str]:
    """Assign the splits and make the dataset visible; the report sums the chunks'."""
    context = fan_in.context
    report = IngestReport(dataset=p.name, csv_issues=context["csv_issues"])
    report.skipped = [Skipped(**entry) for entry in context["skipped"]]
    unreadable = [Skipped(**entry) for result in fan_in.results for entry in result["skipped"]]
    report.skipped += unreadable
    # Counted in the dataset, not summed: two chunks racing to insert the same image cannot tell
    # which of them did (``insert_prepared``), the rows can.
    report.ingested = _count_added(catalog, context)
    report.duplicates = context["items"] - len(unreadable) - report.ingested
    fractions = parse_fractions(p.split) if p.split else None
    finish_ingest(catalog, context["dataset_id"], fractions, p.seed, report)
    report.seconds = time.time() - context["started"]
    return report.to_dict(), report.summary()


def undo_run(catalog: Catalog, p: IngestParams, context: dict[str, Any]) -> None:
    """Remove what the run added (every chunk has stopped writing by now)."""
    added = _added(catalog, context)
    undo(catalog, context["dataset_id"], whole=context["created"], rows=added, new_blobs=added)


def _ours(context: dict[str, Any]) -> Any:
    return (Image.dataset_id == context["dataset_id"]) & (Image.id > context["start_id"])


@retrying
def _added(catalog: Catalog, context: dict[str, Any]) -> list[str]:
    """The sha256 of every image this run added to its dataset."""
    with catalog.sessions() as session:
        return list(session.scalars(select(Image.sha256).where(_ours(context))))


@retrying
def _count_added(catalog: Catalog, context: dict[str, Any]) -> int:
    with catalog.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Image).where(_ours(context))) or 0)


INGEST_FANOUT: FanOut[IngestParams] = FanOut(plan, run_chunk, finish, undo_run)
