"""Augmentation benchmark: the op library against the plain Pillow/torchvision pipeline.

Run from the repository root::

    PYTHONPATH=. python benchmarks/bench_augment.py           # 5,000 images of 96 px, 2 copies each
    PYTHONPATH=. python benchmarks/bench_augment.py --quick   # 1,000 images, under a minute

Figures, one JSON line each (``{"figure", "value", "unit", "baseline", "ratio", "target"}``), all
with the same recipe over the same generated 96 px JPEGs:
- Pillow's own decode + encode, no augmentation: the floor any pipeline pays, one core;
- the plain pipeline: Pillow decode, torchvision.transforms.v2 on the PIL image, Pillow encode;
- workbench's ops (OpenCV) on one core, decode + augment + encode, against the plain pipeline
  (target >= 1.5x).

What workers buy for a whole augment job is measured fairly, every side into a fresh store, by
benchmarks/bench_parallel.py (this file's earlier speed-ups compared a run that wrote every copy's
blob with runs that found them all written already).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw

from benchmarks.bench_catalog import emit
from workbench.api import Workbench
from workbench.augment import JPEG_QUALITY, Recipe, augment_copies
from workbench.jobs.kind import registered
from workbench.views import View

RECIPE = {"hflip": 0.5, "rotate": 15, "color_jitter": 0.2, "random_resized_crop": {"scale": [0.7, 1.0]},
          "blur": 0.2, "grayscale": 0.1, "cutout": 0.5}  # fmt: skip
SIZE, COPIES = 96, 2


def write_images(root: Path, n: int, rng: np.random.Generator) -> list[Path]:
    """Distinct 96 px JPEGs in 10 label folders: a two-colour gradient at a random angle plus noise."""
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    paths = []
    for i in range(n):
        a = rng.random()
        t = (a * x / SIZE + (1 - a) * y / SIZE)[..., None]
        c0, c1 = rng.integers(0, 256, size=(2, 3))
        pixels = c0 * (1 - t) + c1 * t + rng.normal(0, 10, size=(SIZE, SIZE, 3))
        path = root / f"class_{i % 10}" / f"img_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def plain_pipeline() -> Callable[[bytes], bytes]:
    """What a person writes without workbench: the recipe's ops as torchvision.transforms.v2 on a
    PIL image (cutout drawn with Pillow: v2's RandomErasing takes tensors), with our encoder settings."""
    from torchvision.transforms import v2

    def cutout(image: PILImage.Image) -> PILImage.Image:
        if random.random() < 0.5:
            side = SIZE // 4
            left, top = random.randint(0, SIZE - side), random.randint(0, SIZE - side)
            ImageDraw.Draw(image).rectangle([left, top, left + side - 1, top + side - 1], fill=0)
        return image

    transform = v2.Compose([
        v2.RandomResizedCrop(SIZE, scale=(0.7, 1.0)), v2.RandomHorizontalFlip(0.5), v2.RandomRotation(15),
        v2.ColorJitter(0.2, 0.2, 0.2), v2.RandomApply([v2.GaussianBlur(7, (0.1, 2.0))], p=0.2),
        v2.RandomGrayscale(0.1), cutout,
    ])  # fmt: skip

    def run(data: bytes) -> bytes:
        image = transform(PILImage.open(io.BytesIO(data)).convert("RGB"))
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=JPEG_QUALITY)
        return out.getvalue()

    return run


def pillow_floor(data: bytes) -> bytes:
    out = io.BytesIO()
    PILImage.open(io.BytesIO(data)).convert("RGB").save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def per_core(files: list[bytes], hashes: list[str]) -> None:
    """Images/s in this one process (one core), best of three passes each."""
    import torch

    torch.set_num_threads(1)
    recipe = Recipe.parse(RECIPE)

    def ours(data: bytes, sha256: str) -> None:
        augment_copies(data, sha256, "JPEG", recipe, 0, range(1))

    def rate(step: Callable[[bytes, str], object]) -> float:
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            for data, sha256 in zip(files, hashes, strict=True):
                step(data, sha256)
            best = max(best, len(files) / (time.perf_counter() - start))
        return best

    plain = plain_pipeline()
    floor = rate(lambda data, _: pillow_floor(data))
    baseline = rate(lambda data, _: plain(data))
    mine = rate(ours)
    load = round(os.getloadavg()[0], 2)
    emit("Pillow decode + encode, no augmentation (the floor), one core", floor, "images/s", n=len(files))
    plain_figure = "plain pipeline: Pillow decode, torchvision v2 on PIL, Pillow encode, one core"
    emit(plain_figure, baseline, "images/s", n=len(files))
    ratio = mine / baseline
    emit("workbench augment (OpenCV), decode + augment + encode, one core", mine, "images/s",
         baseline=baseline, ratio=ratio, target=">= 1.5", passed=ratio >= 1.5,
         floor_ratio=round(mine / floor, 3), n=len(files), load=load)  # fmt: skip


def augment_request(bench: Workbench, view: View, name: str, processes: int | None = None) -> Any:
    raw = {"view": json.loads(view.to_json()), "recipe": RECIPE, "copies": COPIES, "name": name,
           "processes": processes}  # fmt: skip
    return registered()["augment"].parse(raw, bench.catalog)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 images instead of 5,000")
    args = parser.parse_args()
    n = 1_000 if args.quick else 5_000
    with tempfile.TemporaryDirectory(prefix="bench_augment_") as tmp:
        paths = write_images(Path(tmp) / "images", n, np.random.default_rng(7))
        files = [path.read_bytes() for path in paths]
        per_core(files, [hashlib.sha256(data).hexdigest() for data in files])


if __name__ == "__main__":
    main()
