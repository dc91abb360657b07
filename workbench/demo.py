"""The demo: scikit-learn's bundled digits (1,797 real 8x8 scans, 10 classes), end to end.

Writes the digits as PNG files with an attributes CSV, ingests them into the catalog (the second
run adds nothing: images are deduplicated by content) and prints their statistics.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.api import Workbench

DATASET = "digits"
_LOOPED = {0, 6, 8, 9}


def write_digits(folder: Path) -> tuple[Path, Path]:
    """Digits as ``images/<id>.png`` plus ``digits.csv`` (id, digit, parity, loop, ink)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images_dir = folder / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    csv_path = folder / "digits.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "digit", "parity", "loop", "ink"])
        for index, (pixels, target) in enumerate(zip(digits.images, digits.target, strict=True)):
            grey = (pixels * (255 / 16)).round().astype(np.uint8)  # digits are 0..16 intensities
            path = images_dir / f"{index}.png"
            if not path.exists():
                Image.fromarray(grey, mode="L").save(path)
            parity = "even" if target % 2 == 0 else "odd"
            loop = "yes" if target in _LOOPED else "no"
            writer.writerow([index, int(target), parity, loop, round(float(grey.mean()) / 255, 3)])
    return images_dir, csv_path


def run_demo(workbench: Workbench, folder: Path | None = None) -> int:
    folder = folder or workbench.settings.data_dir / "demo" / DATASET
    images_dir, csv_path = write_digits(folder)
    print(f"wrote {len(list(images_dir.glob('*.png'))):,} digit images to {images_dir}")
    report = workbench.ingest(
        images_dir, DATASET, labels_csv=csv_path, label_column="digit", split="0.8,0.1,0.1", seed=0
    )
    print(report.summary())
    stats = workbench.dataset(DATASET).stats()
    print(stats.summary())
    plot = folder / "stats.png"
    stats.plot().savefig(plot, dpi=100)
    print(f"stats plot: {plot}")
    return 0
