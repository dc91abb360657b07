"""Idle local worker benchmark: what an idle local worker costs, and how soon it starts a job.

Run from the repository root (no services: the embedded default in a temporary folder)::

    PYTHONPATH=. python benchmarks/bench_idle_worker.py                       # 60 s windows
    PYTHONPATH=. python benchmarks/bench_idle_worker.py --baseline-ref 3cdf773  # and the old worker
    PYTHONPATH=. python benchmarks/bench_idle_worker.py --quick               # 15 s windows

A local worker is started as a submit starts it (``python -m workbench.worker --idle-exit``), on a
catalog with the digits ingested. Read from /proc while it idles (VmRSS each second, utime+stime
over the window), one JSON line each, as bench_catalog:
- fresh and idle: resident memory (mean; max in ``max_mb``) and CPU (% of one core) over a window;
- submit-to-start latency of an empty job on a worker idle for 5 s (p50, p95): a job that finds
  it asleep;
- after a torch job (a 1-epoch training run on the digits at 32 px): resident memory right after
  it, then memory and CPU over the window that starts once the worker should have let it go
  (its release time plus 15 s).
Targets: idle resident < 300 MB and CPU < 0.5% of a core. ``--baseline-ref REF`` measures the
worker of git revision REF the same way first (exported by ``git archive`` to a temporary folder;
the client is this checkout's): each figure then has that as its baseline, in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_catalog import emit
from workbench.api import Workbench
from workbench.config import Settings
from workbench.demo import write_digits
from workbench.jobs.local import RELEASE_SECONDS, local_worker_pid

REPO = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def resident_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime, every thread


def idle_window(pid: int, seconds: float) -> dict[str, float]:
    """Resident memory each second and CPU over ``seconds`` of the worker doing nothing."""
    samples, cpu_before, start = [], cpu_seconds(pid), time.monotonic()
    while time.monotonic() - start < seconds:
        samples.append(resident_mb(pid))
        time.sleep(1.0)
    elapsed = time.monotonic() - start
    cpu = (cpu_seconds(pid) - cpu_before) / elapsed * 100
    return {"mean_mb": statistics.mean(samples), "max_mb": max(samples), "cpu_percent": cpu,
            "seconds": elapsed}  # fmt: skip


def latency_ms(bench: Workbench, n: int, idle: float) -> list[float]:
    """Submit -> started_at of empty jobs, each submitted after the worker idled ``idle`` s."""
    latencies = []
    for _ in range(n):
        time.sleep(idle)
        before = time.time()
        info = bench.submit("ping", {"steps": 0}).wait(timeout=60, show_progress=False)
        assert info.state == "succeeded" and info.started_at is not None, info
        started = info.started_at.replace(tzinfo=info.started_at.tzinfo or dt.UTC)
        latencies.append((started.timestamp() - before) * 1000)
    return latencies


def start_worker(settings: Settings, tree: Path, log: Path, release_after: float) -> subprocess.Popen[bytes]:
    """The worker of ``tree`` as a submit would start it (an old one ignores --release-after)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env |= settings.environ() | {"PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "workbench.worker", "--idle-exit", "--release-after", str(release_after)]
    with log.open("ab") as handle:
        worker = subprocess.Popen(command, env=env, cwd=tree, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while local_worker_pid(settings) != worker.pid:
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return worker


def measure(tree: Path, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every figure for the worker of ``tree``, on a fresh catalog under ``root``."""
    settings = Settings(data_dir=root / "data", user="bench")
    bench = Workbench(settings)
    images, labels = write_digits(root / "source")
    bench.ingest(images, "digits", labels_csv=labels, label_column="digit", split="0.8,0.1,0.1", seed=0)
    worker = start_worker(settings, tree, root / "worker.log", args.release_after)
    found: dict[str, Any] = {}
    try:
        bench.submit("ping", {"steps": 0}).wait(timeout=120, show_progress=False)  # up and warm
        time.sleep(5)
        found["fresh"] = idle_window(worker.pid, args.window)
        found["latency"] = latency_ms(bench, args.samples, idle=5)
        train = bench.train("digits", epochs=1, image_size=32, batch_size=128, hflip=False)
        info = train.wait(timeout=1800, show_progress=False)
        assert info.state == "succeeded", info.error
        found["after_torch_job"] = resident_mb(worker.pid)
        time.sleep(args.release_after + 15)
        found["released"] = idle_window(worker.pid, args.window)
        assert worker.poll() is None, "the worker left"
    finally:
        bench.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    return found


def exported(ref: str, into: Path) -> Path:
    """The tree of git revision ``ref`` of this repository, unpacked under ``into``."""
    archive = subprocess.run(["git", "archive", ref], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def figures(measured: dict[str, Any]) -> dict[str, tuple[float, str, dict[str, Any]]]:
    """Name -> (value, unit, what else to print) for one worker's measurements."""
    found: dict[str, tuple[float, str, dict[str, Any]]] = {}
    for name, label in (("fresh", "fresh"), ("released", "after a torch job, once let go")):
        window = measured[name]
        found[f"idle worker, {label}: resident"] = (
            window["mean_mb"],
            "MB",
            {
                "max_mb": round(window["max_mb"], 1),
                "seconds": round(window["seconds"]),
                "target": "< 300 MB",
                "passed": window["max_mb"] < 300,
            },
        )
        found[f"idle worker, {label}: CPU"] = (
            window["cpu_percent"],
            "% of a core",
            {"target": "< 0.5%", "passed": window["cpu_percent"] < 0.5},
        )
    found["idle worker, right after a torch job: resident"] = (measured["after_torch_job"], "MB", {})
    latencies = measured["latency"]
    for q in (50, 95):
        found[f"submit-to-start on a worker idle for 5 s, p{q}"] = (
            float(np.percentile(latencies, q)),
            "ms",
            {"n": len(latencies)},
        )
    return found


def report(new: dict[str, Any], old: dict[str, Any] | None, ref: str | None) -> None:
    before = figures(old) if old is not None else {}
    for name, (value, unit, extra) in figures(new).items():
        baseline = before[name][0] if name in before else None
        ratio = value / baseline if baseline else None
        emit(name, value, unit, baseline=baseline, ratio=ratio, baseline_ref=ref if old else None, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="15 s windows, 5 latency samples, release after 10 s"
    )
    parser.add_argument("--baseline-ref", help="also measure the worker of this git revision, first")
    args = parser.parse_args()
    args.window, args.samples = (15.0, 5) if args.quick else (60.0, 20)
    args.release_after = 10.0 if args.quick else RELEASE_SECONDS
    with tempfile.TemporaryDirectory(prefix="bench_idle_") as tmp:
        old = None
        if args.baseline_ref:
            tree = exported(args.baseline_ref, Path(tmp) / "baseline")
            old = measure(tree, Path(tmp) / "old", args)
        new = measure(REPO, Path(tmp) / "new", args)
    report(new, old, args.baseline_ref)


if __name__ == "__main__":
    main()
