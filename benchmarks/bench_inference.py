"""Inference memory benchmark: the peak memory of predicting 100,000 images against 1,000.

Run from the repository root (no services: the embedded catalog in a temporary folder)::

    PYTHONPATH=. python benchmarks/bench_inference.py            # 1,000 and 100,000 images
    PYTHONPATH=. python benchmarks/bench_inference.py --quick    # 1,000 and 10,000

Each prediction job runs through the real job runner in a fresh process, which reports its own
peak resident memory (ru_maxrss): the target is a ratio <= 1.2, i.e. memory flat in the view's size.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from benchmarks.bench_catalog import emit
from workbench.catalog import Catalog, Dataset
from workbench.catalog.bulk import insert_images
from workbench.catalog.models import Model
from workbench.config import Settings
from workbench.ml.data import IMAGENET_MEAN, IMAGENET_STD
from workbench.ml.export import export

SIZE = 32
RUN_ONE = """
import resource, sys, uuid, json
from pathlib import Path
from workbench.catalog import Catalog
from workbench.catalog.models import Job
from workbench.config import Settings
from workbench.kinds import load_kinds
from workbench.jobs.runner import run_job
catalog = Catalog(Settings(data_dir=Path(sys.argv[1]), user="bench"))
job_id = uuid.uuid4().hex
params = {"model_id": int(sys.argv[2]), "view": {"dataset": sys.argv[3], "filter": {}}}
with catalog.transaction() as session:
    session.add(Job(id=job_id, owner="bench", kind="predict", params=params))
assert run_job(catalog, job_id, "bench", load_kinds()) == "succeeded"
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def make_dataset(catalog: Catalog, name: str, n: int, rng: np.random.Generator) -> None:
    """``n`` distinct 8x8 PNGs stored as blobs, with their rows."""
    with catalog.transaction() as session:
        dataset = Dataset(
            owner="bench", name=name, kind="source", status="ready", source="generated", attribute_types={}
        )
        session.add(dataset)
        session.flush()
        dataset_id = dataset.id
    import hashlib

    for first in range(0, n, 10_000):
        rows = []
        for _ in range(min(10_000, n - first)):
            out = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(out, format="PNG")
            data = out.getvalue()
            sha = hashlib.sha256(data).hexdigest()
            catalog.store.put(sha, data)
            rows.append(
                {
                    "dataset_id": dataset_id,
                    "owner": "bench",
                    "sha256": sha,
                    "label": "0",
                    "width": 8,
                    "height": 8,
                    "format": "PNG",
                    "bytes": len(data),
                    "original_name": f"{sha}.png",
                }
            )
        with catalog.transaction() as session:
            insert_images(session, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000 images")
    args = parser.parse_args()
    small, large = 1_000, 10_000 if args.quick else 100_000
    rng = np.random.default_rng(3)
    with tempfile.TemporaryDirectory(prefix="bench_inference_") as name:
        data_dir = Path(name) / "data"
        catalog = Catalog(Settings(data_dir=data_dir, user="bench"))
        model = torchvision.models.resnet18(num_classes=10).eval()
        check = torch.randn(4, 3, SIZE, SIZE)
        export(
            model,
            data_dir / "export",
            classes=[str(i) for i in range(10)],
            image_size=SIZE,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            check_images=check,
        )
        with catalog.transaction() as session:
            row = Model(
                owner="bench",
                name="bench",
                arch="resnet18",
                image_size=SIZE,
                classes=[str(i) for i in range(10)],
                export_dir=str(data_dir / "export"),
            )
            session.add(row)
            session.flush()
            model_id = row.id
        peaks = {}
        for n in (small, large):
            make_dataset(catalog, f"n{n}", n, rng)
            done = subprocess.run(
                [sys.executable, "-c", RUN_ONE, str(data_dir), str(model_id), f"n{n}"],
                capture_output=True,
                text=True,
                check=True,
            )
            peaks[n] = int(done.stdout.strip().splitlines()[-1].split(":")[1].strip(" }")) / 1024
        catalog.dispose()
    ratio = peaks[large] / peaks[small]
    emit(
        f"peak memory predicting {large:,} images vs {small:,}",
        peaks[large],
        "MiB",
        baseline=peaks[small],
        ratio=ratio,
        target="<= 1.2",
        passed=ratio <= 1.2,
    )


if __name__ == "__main__":
    main()
