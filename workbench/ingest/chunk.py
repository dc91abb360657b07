"""Ingest one chunk of items: read, hash, dedupe, decode, store blobs, bulk-insert rows.

A chunk is the unit a worker runs; running the same chunk twice writes each image once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from sqlalchemy import select

from workbench.catalog import Catalog, Image
from workbench.catalog.bulk import insert_images
from workbench.ingest.items import Item, SkipFile, Skipped
from workbench.ingest.probe import probe
from workbench.ingest.sources import Source


@dataclass
class ChunkResult:
    inserted: list[str] = field(default_factory=list)  # sha256 of the rows this chunk added
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    new_blobs: list[str] = field(default_factory=list)  # blobs this chunk created


def ingest_chunk(catalog: Catalog, source: Source, dataset_id: int, items: list[Item]) -> ChunkResult:
    result = ChunkResult()
    payloads: dict[str, tuple[Item, bytes]] = {}
    for item in items:
        try:
            data = source.read(item.name)
        except SkipFile as exc:
            result.skipped.append(Skipped(item.name, str(exc)))
            continue
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 in payloads:
            result.duplicates += 1
        else:
            payloads[sha256] = (item, data)

    existing = _existing(catalog, dataset_id, list(payloads))
    result.duplicates += len(existing)
    rows = []
    for sha256, (item, data) in payloads.items():
        if sha256 in existing:
            continue
        try:
            probed = probe(data, catalog.settings.limits)
        except SkipFile as exc:
            result.skipped.append(Skipped(item.name, str(exc)))
            continue
        if catalog.store.put(sha256, data):
            result.new_blobs.append(sha256)
        if probed.thumbnail is not None:
            catalog.store.put_thumbnail(sha256, probed.thumbnail)
        rows.append(
            {
                "dataset_id": dataset_id,
                "owner": catalog.user,
                "sha256": sha256,
                "label": item.label,
                "width": probed.width,
                "height": probed.height,
                "format": probed.format,
                "bytes": len(data),
                "original_name": item.name,
                "attributes": item.attributes,
            }
        )

    with catalog.transaction() as session:
        added = insert_images(session, rows)
    # Another worker may have inserted some of these between our check and our insert; then we
    # cannot tell which rows are ours, and an undo must not delete a row another run owns.
    result.duplicates += len(rows) - added
    result.inserted = [row["sha256"] for row in rows] if added == len(rows) else []
    return result


def _existing(catalog: Catalog, dataset_id: int, hashes: list[str]) -> set[str]:
    if not hashes:
        return set()
    with catalog.sessions() as session:
        query = select(Image.sha256).where(Image.dataset_id == dataset_id, Image.sha256.in_(hashes))
        return set(session.scalars(query))
