"""Parallel benchmark, fair: ingest and augment through two Celery workers against one process in
the caller, every measured run into a fresh store.

Run from the repository root with Postgres, RabbitMQ and Redis reachable (throwaway databases and
a vhost are made and removed)::

    PYTHONPATH=. python benchmarks/bench_parallel.py [--images 10000] [--rounds 2]

Why "fresh": the store is content-addressed, so a run into a store that already holds the same
blobs writes none of them (measured: a one-process ingest runs 1.7x faster into such a store,
with no parallelism at all). Here every measured run gets a database and a data folder of its
own, made before the clock starts; each side is warmed up once (imports, the page cache of the
source files, the workers' first job) on a store of its own; the sides alternate within each
round (one process first in odd rounds, the workers first in even ones), and a side's figure is
the median of its rounds. Both sides use the same Postgres catalog; the workers are two
`workbench worker` processes (threads pool, one job each), the job fanning out into chunks that
both take, each chunk using a process per core as the product does. Target: >= 1.6 on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_augment import COPIES, RECIPE, augment_request
from benchmarks.bench_augment import write_images as write_photos
from benchmarks.bench_catalog import emit, throwaway_database, write_images
from tests import services
from workbench.api import Workbench
from workbench.catalog import db
from workbench.config import JobTimings, Settings
from workbench.derive import augment_view

TARGET = 1.6


@contextlib.contextmanager
def fresh(pg: str, broker: str, root: Path) -> Iterator[Settings]:
    """A store nobody has written to: its own catalog database and its own data folder."""
    with throwaway_database(pg) as url:
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        yield Settings(
            data_dir=Path(tempfile.mkdtemp(prefix="store-", dir=root)), database_url=url,
            broker_url=broker, user="bench", result_backend=services.REDIS_URL,
            jobs=JobTimings(heartbeat_seconds=2, stale_seconds=60),
        )  # fmt: skip


@contextlib.contextmanager
def two_workers(settings: Settings, root: Path) -> Iterator[None]:
    workers = [
        services.Worker(settings, root / f"worker{i}-{time.monotonic_ns()}.log", queues="imagery")
        for i in range(2)
    ]
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()


def ingest_one_process(settings: Settings, images: Path, n: int) -> float:
    with Workbench(settings) as bench:
        start = time.perf_counter()
        assert bench.ingest(images, "pets", processes=1).ingested == n
        return n / (time.perf_counter() - start)


def ingest_on_workers(settings: Settings, images: Path, n: int, root: Path) -> float:
    with two_workers(settings, root), Workbench(settings) as bench:
        start = time.perf_counter()
        info = bench.ingest_job(images, "pets").wait(timeout=1800, show_progress=False)
        seconds = time.perf_counter() - start
    assert info.state == "succeeded" and (info.result or {}).get("ingested") == n, info
    return n / seconds


def augment_one_process(settings: Settings, images: Path, n: int) -> float:
    with Workbench(settings) as bench:
        bench.ingest(images, "source")  # not timed: the source dataset, in this fresh store
        request = augment_request(bench, bench.dataset("source"), "copies", processes=1)
        start = time.perf_counter()
        made = augment_view(bench.catalog, request).images
        seconds = time.perf_counter() - start
    assert made == n * COPIES
    return made / seconds


def augment_on_workers(settings: Settings, images: Path, n: int, root: Path) -> float:
    with two_workers(settings, root), Workbench(settings) as bench:
        bench.ingest(images, "source")
        start = time.perf_counter()
        info = bench.augment(bench.dataset("source"), RECIPE, copies=COPIES, seed=0, name="copies").wait(
            timeout=1800, show_progress=False
        )
        seconds = time.perf_counter() - start
    assert info.state == "succeeded" and (info.result or {}).get("images") == n * COPIES, info
    return n * COPIES / seconds


def compare(
    what: str, alone: Callable[[Settings], float], workers: Callable[[Settings], float], *, pg: str,
    broker: str, root: Path, rounds: int, n: int,
) -> None:  # fmt: skip
    sides = {"one process": alone, "two workers": workers}
    for run in sides.values():  # warm-up, each on a store of its own, not counted
        with fresh(pg, broker, root) as settings:
            run(settings)
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for side in order:
            with fresh(pg, broker, root) as settings:
                rates[side].append(sides[side](settings))
    alone_rate, workers_rate = (statistics.median(rates[side]) for side in sides)
    ratio = workers_rate / alone_rate
    emit(f"{what}: two workers vs one process, each run into a fresh store", workers_rate, "images/s",
         baseline=alone_rate, ratio=ratio, target=f">= {TARGET}", passed=ratio >= TARGET, n=n,
         rounds={side: [round(x, 1) for x in xs] for side, xs in rates.items()},
         cores=os.cpu_count(), load=round(os.getloadavg()[0], 2))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="images to ingest (augment: a fifth)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_parallel_") as tmp, services.throwaway_vhost() as broker:
        root = Path(tmp)
        n = args.images
        write_images(root / "images", n, np.random.default_rng(7))
        small = max(200, n // 5)  # augment makes COPIES copies of each
        write_photos(root / "few", small, np.random.default_rng(8))
        common: dict[str, Any] = {"pg": args.pg, "broker": broker, "root": root, "rounds": args.rounds}
        compare(
            "ingest", lambda s: ingest_one_process(s, root / "images", n),
            lambda s: ingest_on_workers(s, root / "images", n, root), n=n, **common,
        )  # fmt: skip
        compare(
            "augment", lambda s: augment_one_process(s, root / "few", small),
            lambda s: augment_on_workers(s, root / "few", small, root), n=small * COPIES, **common,
        )  # fmt: skip
    print(json.dumps({"summary": "done", "seconds": round(time.perf_counter() - started, 1)}), flush=True)


if __name__ == "__main__":
    main()
