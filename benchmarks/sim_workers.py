"""A simulation for docs/scaling.md: many workers running empty jobs against the real broker,
database and Redis, to see what the bookkeeping costs when a machine this size cannot hold the
real load (50 workers, 20 users). Each worker is a real ``celery ... worker`` process, as in
production; each job is a real job (a jobs row claimed, a heartbeat, progress, a fenced finish).

    PYTHONPATH=. python benchmarks/sim_workers.py [--workers 50] [--jobs 2000]

Figures, one JSON line each: empty jobs drained per second with ``--workers`` against 2 workers
(the same jobs, same run); the most Postgres connections open at once, against what the pool
settings allow; Redis commands per second while draining; the workers' total memory.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import redis
from sqlalchemy import create_engine, text

from benchmarks.bench_catalog import emit, throwaway_database
from tests import services
from workbench.api import Workbench
from workbench.config import JobTimings, Settings

POOL_SIZE, MAX_OVERFLOW = 5, 5  # workbench.catalog.db.make_engine's, per process


def start_workers(settings: Settings, n: int, logs: Path) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(settings.environ(), PYTHONPATH=str(services.REPO))
    processes = []
    for i in range(n):
        command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", "imagery", "-P",
                   "threads", "-c", "1", "-n", f"sim{i}@%h", "--loglevel", "WARNING", "--without-mingle",
                   "--without-gossip"]  # fmt: skip
        with open(logs / f"worker{i}.log", "ab") as log:
            processes.append(
                subprocess.Popen(
                    command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            )
    return processes


def wait_ready(bench: Workbench, n: int) -> None:
    """Every worker has run one ping (so each is connected and consuming)."""
    jobs = [bench.submit("ping", {}) for _ in range(n * 3)]
    for job in jobs:
        job.wait(timeout=900)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


class Sampler:
    """Peak Postgres connections to the database and Redis commands, sampled while jobs drain."""

    def __init__(self, admin_url: str, database: str) -> None:
        self.engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.database, self.peak, self.stop = database, 0, threading.Event()
        self.redis = redis.Redis.from_url(services.REDIS_URL)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self.commands0, self.t0 = self.redis.info("stats")["total_commands_processed"], time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop.set()
        self.thread.join()
        seconds = time.monotonic() - self.t0
        self.redis_rate = (self.redis.info("stats")["total_commands_processed"] - self.commands0) / seconds
        self.engine.dispose()

    def _run(self) -> None:
        query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :db")
        with self.engine.connect() as connection:
            while not self.stop.wait(0.25):
                self.peak = max(self.peak, int(connection.execute(query, {"db": self.database}).scalar_one()))


def drain(bench: Workbench, jobs: int, admin_url: str, database: str) -> tuple[float, Sampler]:
    with Sampler(admin_url, database) as sampler:
        started = time.perf_counter()
        submitted = [bench.submit("ping", {"steps": 2}) for _ in range(jobs)]
        for job in submitted:
            info = job.wait(timeout=1800)
            assert info.state == "succeeded", info
        seconds = time.perf_counter() - started
    return jobs / seconds, sampler


def tree_rss(pid: int) -> int:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])


def report(n: int, jobs: int, rate: float, base: float, sampler: Sampler, memory: int) -> None:
    allowed = n * (POOL_SIZE + MAX_OVERFLOW)
    emit(f"empty jobs drained, {n} workers", rate, "jobs/s", baseline=base, ratio=rate / base, jobs=jobs)
    emit(f"peak Postgres connections, {n} workers", sampler.peak, "connections", baseline=allowed,
         ratio=sampler.peak / allowed, target="the pools' bound (baseline) is what to plan for")  # fmt: skip
    emit(f"Redis commands while draining, {n} workers", sampler.redis_rate, "commands/s")
    emit(f"worker memory, {n} workers", memory / 2**20, "MB", per_worker_mb=round(memory / n / 2**20))


def run(workers: int, jobs: int, server: str) -> None:
    with tempfile.TemporaryDirectory(prefix="sim-workers-") as tmp, throwaway_database(server) as url, \
            services.throwaway_vhost() as broker:  # fmt: skip
        database = url.rsplit("/", 1)[1]
        settings = Settings(
            data_dir=Path(tmp) / "data", database_url=url, broker_url=broker,
            result_backend=services.REDIS_URL, user="sim", jobs=JobTimings(),
        )  # fmt: skip
        rates: dict[int, float] = {}
        with Workbench(settings) as bench:
            for n in (2, workers):
                processes = start_workers(settings, n, Path(tmp))
                try:
                    wait_ready(bench, n)
                    rates[n], sampler = drain(bench, jobs, f"{server}/postgres", database)
                    memory = sum(tree_rss(process.pid) for process in processes)
                finally:
                    stop(processes)
                report(n, jobs, rates[n], rates[2], sampler, memory)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    run(args.workers, args.jobs, args.pg)


if __name__ == "__main__":
    main()
