"""Ingest one chunk of items: read, hash, dedupe, decode, store blobs, bulk-insert rows.

A chunk is the unit a worker runs; running the same chunk twice writes each image once. Reading,
hashing, decoding and writing all release the GIL, so a small thread pool keeps both cores busy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from workbench.catalog import Catalog, Image
from workbench.catalog.bulk import insert_images
from workbench.config import Limits
from workbench.ingest.items import Item, SkipFile, Skipped
from workbench.ingest.probe import probe
from workbench.ingest.sources import Source
from workbench.storage import BlobStore


@dataclass
class ChunkResult:
    inserted: list[str] = field(default_factory=list)  # sha256 of the rows this chunk added
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    new_blobs: list[str] = field(default_factory=list)  # blobs this chunk created


@dataclass(frozen=True)
class _Read:
    item: Item
    data: bytes
    sha256: str


@dataclass(frozen=True)
class _Stored:
    row: dict[str, Any]
    new_blob: bool


def ingest_chunk(
    catalog: Catalog, source: Source, dataset_id: int, items: list[Item], pool: Executor | None = None
) -> ChunkResult:
    each: Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]] = pool.map if pool else map
    result = ChunkResult()
    unique: dict[str, _Read] = {}
    for read in each(lambda item: _read(source, item), items):
        if isinstance(read, Skipped):
            result.skipped.append(read)
        elif read.sha256 in unique:
            result.duplicates += 1
        else:
            unique[read.sha256] = read

    existing = _existing(catalog, dataset_id, list(unique))
    result.duplicates += len(existing)
    fresh = [read for sha256, read in unique.items() if sha256 not in existing]
    store, limits = catalog.store, catalog.settings.limits
    rows = []
    for stored in each(lambda read: _probe_and_store(store, limits, read), fresh):
        if isinstance(stored, Skipped):
            result.skipped.append(stored)
            continue
        rows.append({**stored.row, "dataset_id": dataset_id, "owner": catalog.user})
        if stored.new_blob:
            result.new_blobs.append(stored.row["sha256"])

    with catalog.transaction() as session:
        added = insert_images(session, rows)
    # Another worker may have inserted some of these between our check and our insert; then we
    # cannot tell which rows are ours, and an undo must not delete a row another run owns.
    result.duplicates += len(rows) - added
    result.inserted = [row["sha256"] for row in rows] if added == len(rows) else []
    return result


def _read(source: Source, item: Item) -> _Read | Skipped:
    try:
        data = source.read(item.name)
    except SkipFile as exc:
        return Skipped(item.name, str(exc))
    return _Read(item, data, hashlib.sha256(data).hexdigest())


def _probe_and_store(store: BlobStore, limits: Limits, read: _Read) -> _Stored | Skipped:
    try:
        probed = probe(read.data, limits)
    except SkipFile as exc:
        return Skipped(read.item.name, str(exc))
    new_blob = store.put(read.sha256, read.data)
    if probed.thumbnail is not None:
        store.put_thumbnail(read.sha256, probed.thumbnail)
    row = {
        "sha256": read.sha256,
        "label": read.item.label,
        "width": probed.width,
        "height": probed.height,
        "format": probed.format,
        "bytes": len(read.data),
        "original_name": read.item.name,
        "attributes": read.item.attributes,
    }
    return _Stored(row, new_blob)


def _existing(catalog: Catalog, dataset_id: int, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    with catalog.sessions() as session:
        query = select(Image.sha256).where(Image.dataset_id == dataset_id, Image.sha256.in_(hashes))
        return set(session.scalars(query))
