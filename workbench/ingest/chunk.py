"""Ingest one chunk of items: read, hash, check and store each image, then dedupe and bulk-insert.

The per-image work (``ImagePreparer``) touches only files, so it runs in worker processes
(``PreparePool``: Pillow's header parsing holds the GIL, threads made it slower); the database
work (``insert_prepared``) stays in the calling process. A chunk is also the unit a queue worker
runs (``ingest_chunk``); running the same chunk twice writes each image once.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select

from workbench.catalog import Catalog, Image
from workbench.catalog.bulk import insert_images
from workbench.config import Limits
from workbench.ingest.items import Item, SkipFile, Skipped
from workbench.ingest.probe import probe
from workbench.ingest.sources import FileReader
from workbench.storage import BlobStore

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class ChunkResult:
    inserted: list[str] = field(default_factory=list)  # sha256 of the rows this chunk added
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    new_blobs: list[str] = field(default_factory=list)  # blobs this chunk created


@dataclass(frozen=True)
class Prepared:
    """An image read, hashed, checked and stored: its row, short of dataset and owner."""

    row: dict[str, Any]
    new_blob: bool


class ImagePreparer:
    """Reads, hashes, checks and stores images of one source; no database access."""

    def __init__(self, reader: FileReader, store: BlobStore, limits: Limits) -> None:
        self.reader, self.store, self.limits = reader, store, limits

    def run(self, items: list[Item]) -> list[Prepared | Skipped]:
        return [self._prepare(item) for item in items]

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


class PreparePool:
    """ImagePreparers in ``processes`` forked workers, each with its own reader of the source.

    Forked, not spawned: a worker is ready in milliseconds instead of re-importing Pillow, and it
    never touches the parent's database connections (it leaves through os._exit, closing none).
    """

    SUB_BATCH = 32  # items per task: large enough to amortise the pipe, small enough to balance

    def __init__(self, path: Path, store: BlobStore, limits: Limits, processes: int) -> None:
        self._executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_start_worker,
            initargs=(path, store, limits),
        )

    def run_all(self, chunks: Iterable[list[Item]]) -> Iterator[list[Prepared | Skipped]]:
        """Each chunk's results, in order, while the next chunk is already being prepared."""
        return map_chunks(self._executor, _prepare_in_worker, chunks, self.SUB_BATCH)

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)


def map_chunks(
    executor: ProcessPoolExecutor, function: Callable[[list[T]], list[R]], chunks: Iterable[list[T]],
    per_task: int,
) -> Iterator[list[R]]:  # fmt: skip
    """``function`` over each chunk in tasks of ``per_task`` items; each chunk's results in order.

    One chunk of lookahead keeps both cores busy during the caller's insert; more would only
    write blobs an undo cannot know about if the caller fails.
    """
    pending: deque[Iterator[list[R]]] = deque()
    for chunk in chunks:
        pending.append(
            executor.map(function, [chunk[i : i + per_task] for i in range(0, len(chunk), per_task)])
        )
        if len(pending) > 1:
            yield [result for part in pending.popleft() for result in part]
    while pending:
        yield [result for part in pending.popleft() for result in part]


_worker_preparer: ImagePreparer | None = None
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def _start_worker(path: Path, store: BlobStore, limits: Limits) -> None:
    global _worker_preparer
    die_with_parent()
    _worker_preparer = ImagePreparer(FileReader(path, limits), store, limits)


def die_with_parent() -> None:
    """A worker whose parent was killed would wait on its task queue forever (and keep what it
    inherited, such as the local worker's lock): on Linux, have the kernel kill it too."""
    if sys.platform.startswith("linux"):
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)


def _prepare_in_worker(items: list[Item]) -> list[Prepared | Skipped]:
    assert _worker_preparer is not None, "PreparePool workers start with _start_worker"
    return _worker_preparer.run(items)


def default_processes() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def ingest_chunk(catalog: Catalog, reader: FileReader, dataset_id: int, items: list[Item]) -> ChunkResult:
    """Prepare and insert one chunk in this process: what a queue worker runs per task."""
    prepared = ImagePreparer(reader, catalog.store, catalog.settings.limits).run(items)
    return insert_prepared(catalog, dataset_id, prepared)


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
        if entry.new_blob:
            result.new_blobs.append(entry.row["sha256"])
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


def existing_hashes(catalog: Catalog, dataset_id: int, hashes: list[str]) -> set[str]:
    """Which of ``hashes`` the dataset holds already (a redelivered chunk skips them)."""
    if not hashes:
        return set()
    with catalog.sessions() as session:
        query = select(Image.sha256).where(Image.dataset_id == dataset_id, Image.sha256.in_(hashes))
        return set(session.scalars(query))
