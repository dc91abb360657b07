"""Images decoded once into a uint8 tensor cache: a memory-mapped file reused across epochs and runs.

The key is the exact list of (image id, content hash) and the size, so the same view at the same
size finds its cache again, and any change (an image added, another size) makes a new one.
Images that cannot be decoded are left out and reported, never fatal.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

Progress = Callable[[int, int], None]
_BATCH = 128


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
    batches = [items[i : i + _BATCH] for i in range(0, len(items), _BATCH)]
    pixels: list[np.ndarray] = []
    ids: list[int] = []
    skipped: list[dict[str, Any]] = []
    processes = processes or len(os.sched_getaffinity(0))
    if processes > 1 and len(batches) > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            results = pool.map(_decode_batch, batches, [size] * len(batches))
            for done, result in enumerate(results, 1):
                _collect(result, pixels, ids, skipped)
                if progress:
                    progress(min(done * _BATCH, len(items)), len(items))
    else:
        for done, batch in enumerate(batches, 1):
            _collect(_decode_batch(batch, size), pixels, ids, skipped)
            if progress:
                progress(min(done * _BATCH, len(items)), len(items))
    array = np.concatenate(pixels) if pixels else np.zeros((0, 3, size, size), np.uint8)
    partial = data.with_suffix(f".{os.getpid()}.part")
    array.tofile(partial)
    os.replace(partial, data)  # a crash leaves no half cache under the real name
    meta.write_text(json.dumps({"ids": ids, "skipped": skipped, "size": size}))
    return TensorCache(data, np.array(ids, dtype=np.int64), size, skipped)


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


def _collect(
    result: Decoded, pixels: list[np.ndarray], ids: list[int], skipped: list[dict[str, str]]
) -> None:
    array, batch_ids, batch_skipped = result
    pixels.append(array)
    ids.extend(batch_ids)
    skipped.extend(batch_skipped)
