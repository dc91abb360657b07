"""The demo: scikit-learn's bundled digits (1,797 real 8x8 scans, 10 classes), end to end.

Writes the digits as PNG files with an attributes CSV, ingests them into the catalog (the second
run adds nothing: images are deduplicated by content), prints their statistics, trains a ResNet18
on the local worker (once), classifies the test split with the ONNX export alone, makes the
model's report and says how to open the dashboard on the digits.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from workbench.api import Workbench
from workbench.errors import WorkbenchError

DATASET = "digits"
MODEL_NAME = "digits-demo"
DASHBOARD_URL = "http://127.0.0.1:8866/"  # where `workbench dashboard` serves by default
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
        images_dir,
        DATASET,
        labels_csv=csv_path,
        label_column="digit",
        split="0.8,0.1,0.1",
        seed=0,
        append=True,  # a second demo finds the digits there and adds nothing (content is deduplicated)
    )
    print(report.summary())
    stats = workbench.dataset(DATASET).stats()
    print(stats.summary())
    plot = folder / "stats.png"
    stats.plot().savefig(plot, dpi=100)
    print(f"stats plot: {plot}")
    model = _trained_model(workbench)
    metrics = model["metrics"]
    print(f"model {model['id']} ({model['arch']}): test accuracy {metrics['accuracy']:.1%} "
          f"on {metrics['n']:,} images (trained in {metrics.get('train_seconds', 0):.0f} s)")  # fmt: skip
    print(f"ONNX export: {model['export_dir']}")
    _predict_test_split(workbench, workbench.export_folder(model["id"]))
    print("making the model report (a verdict, then the evidence)...")
    made = workbench.report("model", {"model_id": model["id"]})
    print(f"model report: {made['html_path']}")
    print(f"next: `workbench dashboard` and open {DASHBOARD_URL}?dataset={DATASET} (training, "
          "predictions and reports on these digits, by mouse)")  # fmt: skip
    return 0


def _trained_model(workbench: Workbench) -> dict[str, Any]:
    """The demo's model, trained once on the local worker (a second demo run reuses it)."""
    existing = [m for m in workbench.models() if m["name"] == MODEL_NAME]
    if existing:
        print(f"model {existing[-1]['id']} was trained by an earlier run")
        return existing[-1]
    print("training a ResNet18 on the digits (8 epochs at 32 px, batches of 128) on the local worker...")
    job = workbench.train(
        DATASET, name=MODEL_NAME, epochs=8, image_size=32, batch_size=128, hflip=False, seed=0
    )
    info = job.wait()
    if info.state != "succeeded":
        raise WorkbenchError(f"training job {job.id} {info.state}: {info.error or info.message}")
    return next(m for m in workbench.models() if m["id"] == (info.result or {}).get("model_id"))


def _predict_test_split(workbench: Workbench, export_dir: Path) -> None:
    """Classify the held-back digits with ONNX Runtime from the export alone."""
    from workbench.ml.predict import OnnxPredictor

    predictor = OnnxPredictor(export_dir)
    test = workbench.dataset(DATASET).filter(split="test")
    records = list(test)
    images = [test.open(r) for r in records]
    probabilities = predictor.probabilities(images)
    right = sum(
        predictor.classes[p] == r.label for p, r in zip(probabilities.argmax(1), records, strict=True)
    )
    print(f"ONNX Runtime on the {len(records)} test digits: {right / len(records):.1%} correct")
