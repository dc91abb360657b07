"""Images decoded once into a uint8 tensor cache: a memory-mapped file reused across epochs and runs.

The key is the exact list of (image id, content hash) and the size, so the same view at the same
size finds its cache again, and any change (an image added, another size) makes a new one.
Images that cannot be decoded are left out and reported, never fatal.

The file streams to disk: its room is reserved first (a full disk fails at once, not after an
hour of decoding), each decoded batch is written at its place and dropped, and the file is
renamed into place when whole (``workbench.ml.files``). Memory holds a few batches, whatever the
view's size: the whole array in memory took 2.3x the cache's size (docs/benchmarks.md).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from workbench.errors import TrainingError
from workbench.ml import files

Progress = Callable[[int, int], None]
_BATCH = 128  # images a worker process decodes per task
_AHEAD = 2  # batches queued per worker process: the most decoded pixels waiting to be written
_STALE_SECONDS = 3600  # an unfinished cache file untouched this long was left by a killed build


@dataclass(frozen=True)
class CacheItem:
    image_id: int
    sha256: str
    path: str


@dataclass(frozen=True)
class TensorCache:
    """``array[i]`` is image ``ids[i]`` as uint8 CHW (RGB, ``size`` x ``size``)."""

    path: Path
    ids: np.ndarray
    size: int
    skipped: list[dict[str, str]]

    @property
    def array(self) -> np.ndarray:
        return np.memmap(self.path, dtype=np.uint8, mode="r", shape=(len(self.ids), 3, self.size, self.size))


def cache_key(items: Sequence[CacheItem], size: int) -> str:
    digest = hashlib.sha256(f"v1:{size}".encode())
    for item in items:
        digest.update(f"|{item.image_id}:{item.sha256}".encode())
    return digest.hexdigest()[:32]


def chunk_bytes(size: int, processes: int) -> int:
    """The most decoded pixels ``build_cache`` holds at once: the batches queued ahead and the
    one being written."""
    return (max(1, processes) * _AHEAD + 1) * _BATCH * 3 * size * size


def build_cache(
    items: Sequence[CacheItem], size: int, cache_dir: Path, *, progress: Progress | None = None,
    processes: int | None = None,
) -> TensorCache:  # fmt: skip
    """The cache for ``items`` at ``size``, decoding only when no complete one exists."""
    key = cache_key(items, size)
    data, meta = cache_dir / f"{key}.u8", cache_dir / f"{key}.json"
    if data.exists() and meta.exists():
        info = json.loads(meta.read_text())
        return TensorCache(data, np.array(info["ids"], dtype=np.int64), size, info["skipped"])
    cache_dir.mkdir(parents=True, exist_ok=True)
    files.remove_temporaries(cache_dir, older_than=_STALE_SECONDS)
    batches = [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]
    ids: list[int] = []
    skipped: list[dict[str, Any]] = []
    processes = processes or len(os.sched_getaffinity(0))
    with files.atomic_path(data) as partial, _reserved(partial, len(items) * 3 * size * size) as fd:
        written = 0
        with closing(_decoded(batches, size, processes)) as decoded:
            for done, (pixels, batch_ids, batch_skipped) in enumerate(decoded, 1):
                _write_at(fd, pixels, written, partial)
                written += pixels.nbytes
                ids.extend(batch_ids)
                skipped.extend(batch_skipped)
                if progress:
                    progress(min(done * _BATCH, len(items)), len(items))
        os.ftruncate(fd, written)  # the rows reserved for images that could not be decoded
    # The index last: a cache counts as there only when both files are.
    files.write_text(meta, json.dumps({"ids": ids, "skipped": skipped, "size": size}))
    return TensorCache(data, np.array(ids, dtype=np.int64), size, skipped)


@contextmanager
def _reserved(path: Path, nbytes: int) -> Iterator[int]:
    """``path`` opened for writing with ``nbytes`` of disk reserved: no full disk halfway."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        if nbytes:
            try:
                os.posix_fallocate(fd, 0, nbytes)
            except OSError as exc:
                if exc.errno in files.DISK_FULL:
                    raise _cannot_write(path, nbytes, exc) from exc
                # A filesystem that cannot reserve: the file grows as it is written instead.
        yield fd
    finally:
        os.close(fd)


def _write_at(fd: int, pixels: np.ndarray, offset: int, path: Path) -> None:
    view = memoryview(np.ascontiguousarray(pixels).data).cast("B")
    try:
        while view:
            n = os.pwrite(fd, view, offset)
            view, offset = view[n:], offset + n
    except OSError as exc:  # reserved, so only where the filesystem could not reserve
        if exc.errno not in files.DISK_FULL:
            raise
        raise _cannot_write(path, offset + len(view), exc) from exc


def _cannot_write(path: Path, nbytes: int, exc: OSError) -> TrainingError:
    return TrainingError(
        f"{files.no_space(path)} for the training cache ({nbytes / 2**20:,.1f} MiB): free some space "
        "there or train at a smaller image_size"
    )


def _decoded(batches: list[Sequence[CacheItem]], size: int, processes: int) -> Generator[Decoded]:
    """Each batch decoded, in order; with a pool, only ``_AHEAD`` batches per process are queued
    at a time, so decoded pixels never pile up faster than they are written."""
    if processes <= 1 or len(batches) <= 1:
        for batch in batches:
            yield _decode_batch(batch, size)
        return
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"))
    try:
        pending: deque[Future[Decoded]] = deque()
        for batch in batches:
            pending.append(pool.submit(_decode_batch, batch, size))
            if len(pending) >= processes * _AHEAD:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)


def decode(path: str, size: int) -> np.ndarray:
    """One image as uint8 CHW RGB at ``size`` x ``size`` (bilinear, as preprocess.json says)."""
    with Image.open(path) as image:
        image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger
        rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


Decoded = tuple[np.ndarray, list[int], list[dict[str, str]]]  # pixels, ids, skipped


def _decode_batch(batch: Sequence[CacheItem], size: int) -> Decoded:
    arrays, ids, skipped = [], [], []
    for item in batch:
        try:
            arrays.append(decode(item.path, size))
            ids.append(item.image_id)
        except (OSError, ValueError, SyntaxError) as exc:
            skipped.append({"image_id": str(item.image_id), "reason": f"cannot decode: {exc}"})
    stacked = np.stack(arrays) if arrays else np.zeros((0, 3, size, size), np.uint8)
    return stacked, ids, skipped
