"""Ingest one chunk of items: read, hash, check and store each image, then dedupe and bulk-insert.

The per-image work (``ImagePreparer``) touches only files, so it runs in forked worker processes
(``prepare_pool``: Pillow's header parsing holds the GIL, threads made it slower); the database
work (``insert_prepared``) stays in the calling process. Running the same chunk twice writes each
image once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.catalog import Catalog
from workbench.catalog.bulk import insert_images
from workbench.catalog.datasets import existing_hashes
from workbench.catalog.retry import retrying
from workbench.config import Limits
from workbench.disk import OutOfSpace, until_full
from workbench.ingest.items import Item, SkipFile, Skipped
from workbench.ingest.probe import probe
from workbench.ingest.sources import FileReader
from workbench.pool import ForkPool
from workbench.storage import BlobStore

SUB_BATCH = 32  # items per pool task: large enough to amortise the pipe, small enough to balance


@dataclass
class ChunkResult:
    inserted: list[str] = field(default_factory=list)  # sha256 of the rows this chunk added
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)


@dataclass(frozen=True)
class Prepared:
    """An image read, hashed, checked and stored: its row, short of dataset and owner."""

    row: dict[str, Any]
    new_blob: bool


class ImagePreparer:
    """Reads, hashes, checks and stores images of one source; no database access."""

    def __init__(self, reader: FileReader, store: BlobStore, limits: Limits) -> None:
        self.reader, self.store, self.limits = reader, store, limits

    def run(self, items: list[Item]) -> list[Prepared | Skipped | OutOfSpace]:
        """Each item prepared, in order; at a full disk, what was done, then OutOfSpace (the
        caller still learns which blobs it wrote: an undo leaves no orphans)."""
        return until_full(self._prepare(item) for item in items)

    def _prepare(self, item: Item) -> Prepared | Skipped:
        try:
            data = self.reader.read(item.name)
            probed = probe(data, self.limits)
        except SkipFile as exc:
            return Skipped(item.name, str(exc))
        sha256 = hashlib.sha256(data).hexdigest()
        new_blob = self.store.put(sha256, data)
        if probed.thumbnail is not None:
            self.store.put_thumbnail(sha256, probed.thumbnail)
        row = {
            "sha256": sha256,
            "label": item.label,
            "width": probed.width,
            "height": probed.height,
            "format": probed.format,
            "bytes": len(data),
            "original_name": item.name,
            "attributes": item.attributes,
        }
        return Prepared(row, new_blob)


def prepare_pool(
    path: Path, store: BlobStore, limits: Limits, processes: int
) -> ForkPool[Item, Prepared | Skipped | OutOfSpace]:
    """ImagePreparers in ``processes`` forked workers, each with its own reader of the source
    (a zip's file offset is shared across a fork)."""
    return ForkPool(lambda: ImagePreparer(FileReader(path, limits), store, limits), processes, SUB_BATCH)


def new_blobs_of(prepared: list[Prepared | Skipped | OutOfSpace]) -> list[str]:
    return [entry.row["sha256"] for entry in prepared if isinstance(entry, Prepared) and entry.new_blob]


@retrying
def insert_prepared(
    catalog: Catalog, dataset_id: int, prepared: list[Prepared | Skipped], held: set[str] | None = None
) -> ChunkResult:
    """Dedupe prepared images (within the chunk and against the dataset) and bulk-insert the rest.

    ``held``: every hash the dataset holds, when the caller knows them (a dataset its own run
    created), which saves a query per chunk; None asks the database.
    """
    result = ChunkResult()
    unique: dict[str, Prepared] = {}
    for entry in prepared:
        if isinstance(entry, Skipped):
            result.skipped.append(entry)
            continue
        if entry.row["sha256"] in unique:
            result.duplicates += 1
        else:
            unique[entry.row["sha256"]] = entry

    known = held if held is not None else existing_hashes(catalog, dataset_id, list(unique))
    existing = known & unique.keys()
    result.duplicates += len(existing)
    rows = [
        {**entry.row, "dataset_id": dataset_id, "owner": catalog.user}
        for sha256, entry in unique.items()
        if sha256 not in existing
    ]
    with catalog.transaction() as session:
        added = insert_images(session, rows)
    # Another worker may have inserted some of these between our check and our insert; then we
    # cannot tell which rows are ours, and an undo must not delete a row another run owns.
    result.duplicates += len(rows) - added
    result.inserted = [row["sha256"] for row in rows] if added == len(rows) else []
    return result
