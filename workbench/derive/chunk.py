"""Augment one chunk of source images: read, augment, hash and store each copy, then insert.

The per-image work (``CopyMaker``) touches only blobs, so it runs in forked worker processes
(``copy_pool``, one per core, one chunk ahead of the parent, as ingest's pool); inserting rows
stays in the calling process. Every copy is a pure function of (recipe, seed, source, copy
index), so a chunk run twice makes the same files and the (dataset, sha256) key keeps one row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import cv2
from sqlalchemy import func, select

from workbench.augment import Augmented, Recipe, augment_copies, decode
from workbench.catalog import Catalog, Image
from workbench.catalog.bulk import insert_images
from workbench.catalog.datasets import existing_hashes
from workbench.catalog.retry import retrying
from workbench.disk import OutOfSpace, until_full
from workbench.errors import AugmentError
from workbench.pool import ForkPool
from workbench.storage import THUMBNAIL_SIZE, BlobStore
from workbench.views import ImageRecord


class Made(NamedTuple):
    """One stored copy: its row's own columns, and whether its blob is new (for an undo)."""

    source_id: int
    copy: int
    sha256: str
    width: int
    height: int
    format: str
    bytes: int
    new_blob: bool


class Failed(NamedTuple):
    source_id: int
    reason: str


@dataclass
class ChunkResult:
    inserted: int = 0
    existing: int = 0  # copies already in the dataset (a redelivered or resumed chunk)
    skipped: list[Failed] = field(default_factory=list)


class CopyMaker:
    """Makes and stores the copies of source images; no database access."""

    def __init__(self, store: BlobStore, recipe: Recipe, seed: int, copies: int) -> None:
        self.store, self.recipe, self.seed, self.copies = store, recipe, seed, copies

    def run(self, sources: list[tuple[int, str, str]]) -> list[Made | Failed | OutOfSpace]:
        """``sources``: (image id, sha256, format) of each source image. At a full disk: what was
        made, then OutOfSpace (the caller still learns which blobs it wrote)."""
        return until_full(self._made(sources))

    def _made(self, sources: list[tuple[int, str, str]]) -> Iterator[Made | Failed]:
        for source_id, sha256, fmt in sources:
            try:
                data = self.store.read(sha256)
                made = augment_copies(data, sha256, fmt, self.recipe, self.seed, range(self.copies))
            except (OSError, AugmentError) as exc:
                yield Failed(source_id, f"{type(exc).__name__}: {exc}")
                continue
            for copy, image in enumerate(made):
                yield self._store(source_id, copy, image)

    def _store(self, source_id: int, copy: int, image: Augmented) -> Made:
        sha256 = hashlib.sha256(image.data).hexdigest()
        new_blob = self.store.put(sha256, image.data)
        if max(image.width, image.height) > THUMBNAIL_SIZE:
            self.store.put_thumbnail(sha256, _thumbnail(image.data))
        return Made(
            source_id, copy, sha256, image.width, image.height, image.format, len(image.data), new_blob
        )


def _thumbnail(data: bytes) -> bytes:
    """As ingest makes them for images over 128 px: a JPEG the gallery shows instead of the blob."""
    pixels = decode(data)
    height, width = pixels.shape[:2]
    scale = THUMBNAIL_SIZE / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)
    return cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


SUB_BATCH_IMAGES = 32  # copies per pool task: enough to amortise the pipe, small enough to balance


def copy_pool(maker: CopyMaker, processes: int) -> ForkPool[tuple[int, str, str], Made | Failed | OutOfSpace]:
    """CopyMakers in ``processes`` forked workers."""
    return ForkPool(lambda: maker, processes, SUB_BATCH_IMAGES // maker.copies)


# -- the database side ---------------------------------------------------------------------------
@retrying
def pending_sources(
    catalog: Catalog, dataset_id: int, records: list[ImageRecord], copies: int
) -> list[ImageRecord]:
    """The records whose copies are not all in the dataset yet: a resumed job skips the rest."""
    query = (
        select(Image.source_image_id, func.count())
        .where(Image.dataset_id == dataset_id, Image.source_image_id.in_([r.id for r in records]))
        .group_by(Image.source_image_id)
    )
    with catalog.sessions() as session:
        done = {source for source, n in session.execute(query) if n >= copies}
    return [r for r in records if r.id not in done]


@retrying
def insert_made(
    catalog: Catalog, dataset_id: int, sources: dict[int, ImageRecord], made: list[Made | Failed]
) -> ChunkResult:
    """Insert the copies not yet in the dataset, with their source's label, split and attributes."""
    result = ChunkResult()
    copies = []
    for entry in made:
        if isinstance(entry, Failed):
            result.skipped.append(entry)
            continue
        copies.append(entry)
    existing = existing_hashes(catalog, dataset_id, [c.sha256 for c in copies])
    rows = [_row(catalog, dataset_id, sources[c.source_id], c) for c in copies if c.sha256 not in existing]
    with catalog.transaction() as session:
        result.inserted = insert_images(session, rows)
    result.existing = len(copies) - result.inserted
    return result


def source_tuple(record: ImageRecord) -> tuple[int, str, str]:
    return record.id, record.sha256, record.format


def _row(catalog: Catalog, dataset_id: int, source: ImageRecord, made: Made) -> dict[str, Any]:
    return {
        "dataset_id": dataset_id, "owner": catalog.user, "sha256": made.sha256, "label": source.label,
        "split": source.split, "width": made.width, "height": made.height, "format": made.format,
        "bytes": made.bytes, "original_name": f"{source.original_name}#aug{made.copy}",
        "attributes": source.attributes, "source_image_id": source.id,
    }  # fmt: skip
