"""Out of memory on the real services, with the kernel's own limits, each for what it does:

- an address-space limit (RLIMIT_AS) on the worker's child makes an allocation fail with an
  exception: the predict halves its batch within the run and goes on;
- a memory cgroup makes the kernel's OOM killer SIGKILL the child: the run is lost, the worker's
  parent notes it was out of memory, the reaper queues the job again (a delivery), the next run
  starts at half the batch, and after the configured deliveries the job fails saying so.

The model is a real ONNX export at 512 x 512 pixels: preprocessing a batch of 256 takes about
1.7 GB more, 128 about 0.9 GB, 64 about 0.45 GB (measured on the machine these were written on).
"""

from __future__ import annotations

import os
import resource
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests import builders, services
from tests.conftest import FAST_JOBS
from workbench.api import Workbench
from workbench.catalog.models import Model, Prediction
from workbench.ingest import ingest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

MEMORY = Path("/sys/fs/cgroup/memory")
CLASSES = ["cats", "dogs"]
SIZE = 512
MB = 2**20


def _pets_and_a_big_model(bench: Workbench, tmp_path: Path) -> int:
    """300 small images as dataset ``pets``, and a model whose export takes them at 512 pixels."""
    ingest(bench.catalog, builders.image_folder(tmp_path / "pets", {"cats": 150, "dogs": 150}), "pets")
    export = builders.onnx_export(tmp_path / "model" / "export", CLASSES, image_size=SIZE)
    with bench.catalog.transaction() as session:
        row = Model(owner=bench.catalog.user, name="big", arch="tiny", classes=CLASSES, image_size=SIZE,
                    export_dir=str(export))  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _predict(bench: Workbench, model_id: int, batch_size: int) -> Any:
    # One chunk of 512 (no fan-out): the first ONNX Runtime call takes a whole batch of 256.
    params = {"model_id": model_id, "view": {"dataset": "pets"}, "batch_size": batch_size, "chunk": 512}
    return bench.submit("predict", params)


def _predictions(bench: Workbench) -> dict[int, tuple[str, float]]:
    with bench.catalog.sessions() as session:
        rows = session.execute(select(Prediction.image_id, Prediction.label, Prediction.score)).all()
    return {image: (label, score) for image, label, score in rows}


def _same(found: dict[int, tuple[str, float]], expected: dict[int, tuple[str, float]]) -> None:
    assert found.keys() == expected.keys() and len(found) == 300
    for image, (label, score) in expected.items():
        assert found[image][0] == label
        assert found[image][1] == pytest.approx(score, rel=1e-5)


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
    return found


def _pool_child(worker: services.Worker, other_than: int | None = None) -> int:
    """The worker's one pool process (prefork, concurrency 1), a new one after ``other_than``."""
    found = services.until(
        lambda: [pid for pid in _children(worker.process.pid) if pid != other_than], 60, "a pool child"
    )
    assert isinstance(found, list) and len(found) == 1, found
    return found[0]


# -- an allocation refused: the batch halves within the run -------------------------------------
def test_a_predict_refused_memory_at_batch_256_finishes_smaller_with_the_same_predictions(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    model_id = _pets_and_a_big_model(bench, tmp_path)
    worker = start_worker(queues="inference")
    first_child = _pool_child(worker)
    reference = _predict(bench, model_id, 64).wait(timeout=300)  # no limit: the answers to match
    assert reference.state == "succeeded", reference.error
    expected = _predictions(bench)

    child = _pool_child(worker, other_than=first_child)  # a fresh child for each job
    room = 1300 * MB  # ONNX Runtime and its threads (~0.2 GB), and a batch of 128, not one of 256
    address_space = _vm_size(child) + room
    resource.prlimit(child, resource.RLIMIT_AS, (address_space, address_space))
    info = _predict(bench, model_id, 256).wait(timeout=300)

    assert info.state == "succeeded", info.error
    memory = info.metrics["memory"]
    print(f"\naddress space {address_space / MB:,.0f} MB; halvings {memory['halvings']}")
    assert memory["started_at"] == 256 and memory["halvings"][0]["batch"] == 256
    assert info.result is not None and info.result["batch_size"] == memory["batch"] < 256
    assert info.deliveries == 1  # within the run: nothing was lost
    _same(_predictions(bench), expected)


def _vm_size(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmSize for {pid}")


# -- a memory cgroup: the kernel kills the child, each run a delivery -----------------------------
@contextmanager
def memory_cgroup() -> Iterator[Path]:
    """A memory cgroup of our own, without a limit yet; whatever runs in it at the end is
    killed (only processes a test put there), and the group is removed, whatever happens."""
    if not os.access(MEMORY / "cgroup.procs", os.W_OK):
        pytest.skip(f"no writable cgroup v1 memory controller at {MEMORY} (needs root)")
    group = MEMORY / f"workbench-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        yield group
    finally:
        deadline = time.monotonic() + 30
        while (pids := (group / "cgroup.procs").read_text().split()) and time.monotonic() < deadline:
            for pid in pids:
                with suppress(ProcessLookupError):  # gone meanwhile
                    os.kill(int(pid), signal.SIGKILL)
            time.sleep(0.1)
        group.rmdir()


def _limit(group: Path, room: int) -> int:
    """Limit ``group`` to what it uses now plus ``room`` (no swap either); returns the limit."""
    limit = int((group / "memory.usage_in_bytes").read_text()) + room
    (group / "memory.limit_in_bytes").write_text(str(limit))
    if (group / "memory.memsw.limit_in_bytes").exists():
        (group / "memory.memsw.limit_in_bytes").write_text(str(limit))
    return limit


def _oom_kills(group: Path) -> int:
    return int((group / "memory.oom_control").read_text().split("oom_kill ")[1].split()[0])


# A child thrashing at the limit can miss heartbeats for seconds before the OOM killer acts (5 s
# was seen): with the tests' 3 s stale time the reaper would queue its job again while it still
# ran, and the next run could claim it before the worker noted the kill. Production waits 60 s.
STALE = "15"


def _worker_in(group: Path, start_worker: services.StartWorker) -> services.Worker:
    def join() -> None:  # in the worker's process before it runs Celery: its children follow
        (group / "cgroup.procs").write_text(str(os.getpid()))

    return start_worker(queues="inference", preexec=join, env={"WORKBENCH_JOB_STALE_SECONDS": STALE})


def test_a_predict_that_cannot_fit_fails_after_the_deliveries_saying_out_of_memory(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    model_id = _pets_and_a_big_model(bench, tmp_path)
    with memory_cgroup() as group:
        worker = _worker_in(group, start_worker)
        try:
            limit = _limit(group, 300 * MB)  # not even a batch of 64 at 512 pixels
            job = _predict(bench, model_id, 256)
            info = job.wait(timeout=300)
            kills = _oom_kills(group)
            print(f"\nlimit {limit / MB:,.0f} MB; OOM kills {kills}; deliveries {info.deliveries}; "
                  f"memory {info.metrics.get('memory')}; error: {info.error}")  # fmt: skip

            assert info.state == "failed"
            assert info.deliveries == FAST_JOBS.max_deliveries + 1  # the last start only failed it
            assert kills == FAST_JOBS.max_deliveries and worker.alive  # children died, not the worker
            lost = info.metrics["lost"]
            assert [run["delivery"] for run in lost] == [1, 2, 3]
            assert all(run["out_of_memory"] and "SIGKILL" in run["how"] for run in lost)
            # Each run after a kill started at half the batch: 256, 128, 64.
            assert [(h["batch"], h["to"]) for h in info.metrics["memory"]["halvings"]] == [
                (256, 128),
                (128, 64),
            ]
            assert info.error is not None
            assert info.error.startswith("ran out of memory at batch 64 (it started at 256): the kernel's")
            assert "3 of its 3 runs" in info.error
            assert "smaller batch_size" in info.error and "more memory" in info.error

            # Never looped: a failed job stays failed and is not started again.
            time.sleep(2 * float(STALE))
            again = job.info()
            assert (again.state, again.deliveries) == ("failed", info.deliveries)
            assert _oom_kills(group) == kills
        finally:
            worker.stop()


def test_a_predict_killed_at_batch_256_goes_on_smaller_at_its_next_delivery(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    model_id = _pets_and_a_big_model(bench, tmp_path)
    with memory_cgroup() as group:
        worker = _worker_in(group, start_worker)
        try:
            reference = _predict(bench, model_id, 64).wait(timeout=300)  # before any limit
            assert reference.state == "succeeded", reference.error
            expected = _predictions(bench)
            limit = _limit(group, 750 * MB)  # a batch of 64 fits, one of 128 or 256 does not
            info = _predict(bench, model_id, 256).wait(timeout=300)
            kills = _oom_kills(group)
            print(f"\nlimit {limit / MB:,.0f} MB; OOM kills {kills}; deliveries {info.deliveries}; "
                  f"memory {info.metrics.get('memory')}")  # fmt: skip

            assert info.state == "succeeded", info.error
            assert info.deliveries == kills + 1 and kills >= 1
            assert info.result is not None and info.result["batch_size"] < 256
            halvings = info.metrics["memory"]["halvings"]
            assert halvings[0]["batch"] == 256 and "killed" in halvings[0]["error"]
            assert len(info.metrics["lost"]) == kills
            _same(_predictions(bench), expected)
        finally:
            worker.stop()
