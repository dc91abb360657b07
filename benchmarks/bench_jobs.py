"""Jobs benchmark: what the job machinery costs over the broker alone, and what workers buy.

Run from the repository root with Postgres, RabbitMQ and Redis reachable (a throwaway database
and vhost are made and removed, even on failure)::

    PYTHONPATH=. python benchmarks/bench_jobs.py           # 200 latency samples, 1,000 jobs
    PYTHONPATH=. python benchmarks/bench_jobs.py --quick   # a smoke run

Figures, one JSON line each (``{"figure", "value", "unit", "baseline", "ratio", "target"}``):
- submit-to-start latency on the embedded default (SQLite, the local worker), reported;
- submit-to-start latency of an empty job (p50, p95) against a raw kombu publish -> consume
  between two processes, measured in the same run; the target is p50 overhead < 10 ms;
- 1,000 empty jobs submitted at once: drained per second, and how many were lost (target 0).

What workers buy for ingest is measured fairly, every side into a fresh store, by
benchmarks/bench_parallel.py (this file's earlier speed-up compared a run that wrote every blob
with runs that found them all written already).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_catalog import emit, throwaway_database
from tests import services
from workbench.api import Workbench
from workbench.catalog import db
from workbench.config import JobTimings, Settings
from workbench.jobs.local import local_worker_pid

CONSUMER = """
import sys, time
from kombu import Connection, Queue
url, n = sys.argv[1], int(sys.argv[2])
queue = Queue("bench_raw", durable=True)
seen = 0
with Connection(url) as conn:
    def on_message(body, message):
        global seen
        print(body["i"], time.time(), flush=True)
        message.ack()
        seen += 1
    with conn.Consumer(queue, callbacks=[on_message], prefetch_count=1, accept=["json"]):
        print("ready", flush=True)
        while seen < n:
            conn.drain_events(timeout=30)
"""


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def raw_kombu_latency(broker: str, n: int) -> list[float]:
    """Publish -> consume latency (ms) of a persistent message to a durable queue, two processes."""
    from kombu import Connection, Queue

    consumer = subprocess.Popen(
        [sys.executable, "-c", CONSUMER, broker, str(n)], stdout=subprocess.PIPE, text=True
    )
    assert consumer.stdout is not None
    assert consumer.stdout.readline().strip() == "ready"
    sent: dict[int, float] = {}
    latencies = []
    with Connection(broker) as conn:
        producer = conn.Producer(serializer="json")
        queue = Queue("bench_raw", durable=True)
        for i in range(n):
            sent[i] = time.time()
            producer.publish({"i": i}, routing_key="bench_raw", declare=[queue], delivery_mode=2)
            index, received = consumer.stdout.readline().split()
            latencies.append((float(received) - sent[int(index)]) * 1000)
    consumer.wait(timeout=30)
    return latencies


def job_latency(bench: Workbench, n: int) -> list[float]:
    """Submit -> started_at (ms) of empty jobs, one at a time on an idle worker."""
    latencies = []
    for _ in range(n):
        before = time.time()
        job = bench.submit("ping", {"steps": 0})
        info = job.wait(timeout=60, show_progress=False)
        assert info.state == "succeeded" and info.started_at is not None, info
        started = info.started_at
        if started.tzinfo is None:  # SQLite keeps timestamps without their (UTC) zone
            started = started.replace(tzinfo=dt.UTC)
        latencies.append((started.timestamp() - before) * 1000)
    return latencies


def embedded_latency(data_dir: Path, n: int) -> None:
    """The same latency on the embedded default: SQLite and the local worker, no servers."""
    settings = Settings(data_dir=data_dir, user="bench")
    bench = Workbench(settings)
    try:
        job_latency(bench, 5)  # starts the local worker
        latencies = job_latency(bench, n)
    finally:
        bench.close()
        pid = local_worker_pid(settings)
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
    emit("embedded: submit-to-start latency p50", percentile(latencies, 50), "ms", n=n,
         p95=round(percentile(latencies, 95), 2))  # fmt: skip


def drain(bench: Workbench, n: int) -> tuple[float, int]:
    start = time.perf_counter()
    jobs = [bench.submit("ping", {"steps": 0}) for _ in range(n)]
    wanted = {job.id for job in jobs}
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        finished = {info.id for info in bench.jobs(state="succeeded", limit=10 * n)} & wanted
        if len(finished) == n:
            break
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    lost = n - len(finished)
    return n / seconds, lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 latency samples, 200 jobs")
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    samples, burst = (50, 200) if args.quick else (200, 1_000)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_jobs_") as tmp, throwaway_database(args.pg) as url, \
            services.throwaway_vhost() as broker:  # fmt: skip
        engine = db.make_engine(url)
        db.upgrade(engine)
        engine.dispose()
        settings = Settings(
            data_dir=Path(tmp) / "data", database_url=url, broker_url=broker, user="bench",
            result_backend=services.REDIS_URL, jobs=JobTimings(heartbeat_seconds=2, stale_seconds=30),
        )  # fmt: skip
        embedded_latency(Path(tmp) / "embedded", samples)
        raw = raw_kombu_latency(broker, samples)
        worker = services.Worker(settings, Path(tmp) / "worker.log")
        bench = Workbench(settings)
        try:
            job_latency(bench, 5)  # warm: connections, compiled queries
            jobs = job_latency(bench, samples)
            for q in (50, 95):
                value, base = percentile(jobs, q), percentile(raw, q)
                extra: dict[str, Any] = {"overhead_ms": round(value - base, 2), "n": samples}
                emit(f"submit-to-start latency p{q}", value, "ms", baseline=base, ratio=value / base,
                     target="p50 overhead < 10 ms" if q == 50 else None,
                     passed=value - base < 10 if q == 50 else None, **extra)  # fmt: skip
            rate, lost = drain(bench, burst)
            emit(f"{burst} jobs submitted at once, drained", rate, "jobs/s", target="none lost",
                 passed=lost == 0, lost=lost, n=burst)  # fmt: skip
        finally:
            bench.close()
            worker.stop()
    print(json.dumps({"summary": "done", "seconds": round(time.perf_counter() - started, 1),
                      "raw_p50_ms": round(statistics.median(raw), 2)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
