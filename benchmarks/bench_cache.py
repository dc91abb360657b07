"""Training cache benchmark: the peak memory of building the tensor cache, streamed to disk against
the whole-array build it replaced.

Run from the repository root (no services)::

    PYTHONPATH=. python benchmarks/bench_cache.py            # 40,000 images at 64 px
    PYTHONPATH=. python benchmarks/bench_cache.py --quick    # 4,000 images

The images are deterministic JPEGs of 64-128 px (``bench_catalog.write_images``) in a temporary
folder. Each build runs in a fresh process that reports its own peak resident memory (VmHWM) and
its largest decoding worker's (``RUSAGE_CHILDREN``); the last three children import the same
modules and make the same list of items:

- bare: Python, numpy and Pillow imported, nothing else;
- floor: the cache's imports (``workbench.ml.cache`` imports the ``workbench`` package, whose
  ``__init__`` loads the API, SQLAlchemy, pydantic...) and the item list, nothing built;
- whole-array: the build before (a reference copy below: every decoded batch kept, concatenated,
  written at the end);
- streamed: ``workbench.ml.cache.build_cache``.

Figures (one JSON line each, as bench_catalog): each build's peak against the cache file's size;
the streamed peak against one chunk (``cache.chunk_bytes``: the decoded batches it holds at most)
plus ResNet18's weights (the trained model, as ``best.ckpt`` holds it), target <= 1.3, both as
measured and above the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_catalog import emit, write_images
from workbench.ml.cache import chunk_bytes

SIZE, CLASSES = 64, 10
MiB = 2**20
CHILD = r'''
import json, os, resource, sys, time
from pathlib import Path
import numpy as np
from PIL import Image

def status(field):
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))

if sys.argv[1] == "bare":  # Python, numpy and Pillow alone
    print(json.dumps({"peak": status("VmHWM:")}))
    sys.exit()

from workbench.ml.cache import CacheItem, build_cache, _decode_batch

def whole_array(items, size, cache_dir, processes):
    """The build before streaming: every batch kept in a list, concatenated, written at the end."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    batches = [items[i : i + 128] for i in range(0, len(items), 128)]
    pixels, ids, skipped = [], [], []
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        for array, batch_ids, batch_skipped in pool.map(_decode_batch, batches, [size] * len(batches)):
            pixels.append(array); ids.extend(batch_ids); skipped.extend(batch_skipped)
    array = np.concatenate(pixels)
    data = Path(cache_dir) / "whole.u8"
    Path(cache_dir).mkdir(parents=True, exist_ok=True)
    array.tofile(data)
    return data

mode, listing, cache_dir = sys.argv[1], sys.argv[2], sys.argv[4]
size, processes = int(sys.argv[3]), int(sys.argv[5])
items = [CacheItem(i, f"{i:064x}", path) for i, path in enumerate(json.loads(Path(listing).read_text()))]
before = status("VmRSS:")
started = time.monotonic()
if mode == "streamed":
    path = build_cache(items, size, Path(cache_dir), processes=processes).path
elif mode == "whole-array":
    path = whole_array(items, size, cache_dir, processes)
file_bytes = path.stat().st_size if mode != "floor" else 0
print(json.dumps({
    "peak": status("VmHWM:"), "before": before, "file": file_bytes, "seconds": time.monotonic() - started,
    "worker_peak": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
}))
'''


def measure(mode: str, listing: Path, cache_dir: Path, processes: int) -> dict[str, Any]:
    """One build (or none, ``floor``) in a fresh process, which reports its own memory."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(listing), str(SIZE), str(cache_dir), str(processes)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_bytes() -> int:
    """ResNet18's weights for the benchmark's classes: what the trained model's best.ckpt holds."""
    import torchvision

    model = torchvision.models.resnet18(num_classes=CLASSES)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,000 images instead of 40,000")
    parser.add_argument("--images", type=int, help="how many images (overrides --quick)")
    args = parser.parse_args()
    n = args.images or (4_000 if args.quick else 40_000)
    processes = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="bench_cache_") as name:
        root = Path(name)
        paths = write_images(root / "images", n, np.random.default_rng(0))
        listing = root / "paths.json"
        listing.write_text(json.dumps([str(p) for p in paths]))
        bare = measure("bare", listing, root / "bare", processes)
        floor = measure("floor", listing, root / "floor", processes)
        streamed = measure("streamed", listing, root / "streamed", processes)
        whole = measure("whole-array", listing, root / "whole", processes)
    chunk, model = chunk_bytes(SIZE, processes), model_bytes()
    budget = chunk + model
    common = {"images": n, "size": SIZE, "processes": processes}
    emit("floor: Python, numpy and Pillow alone", bare["peak"] / MiB, "MiB", **common)
    emit("floor: imports (the workbench package) and the item list, nothing built", floor["peak"] / MiB,
         "MiB", **common)  # fmt: skip
    for label, run in (("whole-array (before)", whole), ("streamed", streamed)):
        emit(f"peak memory building the cache, {label}, against the cache file", run["peak"] / MiB, "MiB",
             baseline=run["file"] / MiB, ratio=run["peak"] / run["file"], seconds=round(run["seconds"], 1),
             worker_peak_mib=round(run["worker_peak"] / MiB, 1), **common)  # fmt: skip
    emit("peak memory building the cache, streamed against whole-array", streamed["peak"] / MiB, "MiB",
         baseline=whole["peak"] / MiB, ratio=streamed["peak"] / whole["peak"], **common)  # fmt: skip
    emit("streamed peak against one chunk + ResNet18's weights", streamed["peak"] / MiB, "MiB",
         baseline=budget / MiB, ratio=streamed["peak"] / budget, target="<= 1.3",
         passed=streamed["peak"] <= 1.3 * budget, chunk_mib=round(chunk / MiB, 2),
         model_mib=round(model / MiB, 2), **common)  # fmt: skip
    above = streamed["peak"] - floor["peak"]
    emit("streamed peak above the floor against one chunk + ResNet18's weights", above / MiB, "MiB",
         baseline=budget / MiB, ratio=above / budget, target="<= 1.3", passed=above <= 1.3 * budget,
         above_floor_against_chunk=round(above / chunk, 2), **common)  # fmt: skip


if __name__ == "__main__":
    main()
