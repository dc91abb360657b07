"""Fencing: a worker that stalls loses its job to another, and when it wakes it writes nothing.

A worker is stopped (SIGSTOP) mid-job, as a frozen VM or a process swapped out would be; the
reaper gives the job to a second worker, which finishes it; then the first wakes. Every row of
the catalog (its Postgres ``xmin``: the transaction that last wrote it) and every file the job
owns must be as the second run left them, for ingest, augment, train and predict.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from tests import builders, services
from tests.services import StartWorker
from workbench.api import Workbench
from workbench.jobs import Job

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
TABLES = ("datasets", "images", "models", "predictions", "reports")


def snapshot(bench: Workbench, *folders: Path) -> dict[str, object]:
    """Who last wrote each row (xmin), and each file's bytes, under ``folders``."""
    with bench.catalog.engine.connect() as connection:
        rows = {
            table: sorted(connection.execute(text(f"SELECT id, xmin::text FROM {table}")).all())
            for table in TABLES
        }
    files = {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest()
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    return {"rows": rows, "files": files}


# One process, as big as the jobs here are: test_fanout.py stalls the worker of one chunk.
ONE = 100_000


def stall_then_wake(
    bench: Workbench, start_worker: Callable[..., services.Worker], queues: str, submit: Callable[[], Job],
    part_way: Callable[[Job], bool], *folders: Path,
) -> Job:  # fmt: skip
    """Run a job on a worker, stop that worker part way, let a second one finish the job, then
    wake the first and wait until its run of the task has returned. Returns the job, with the
    catalog and ``folders`` checked unchanged by the woken worker."""
    first = start_worker(queues=queues)
    job = submit()
    services.until(lambda: part_way(job), 300, "the job to be part way")
    first.pause()
    start_worker(queues=queues)
    info = job.wait(timeout=600)
    assert (info.state, info.deliveries) == ("succeeded", 2), info
    finished = snapshot(bench, *folders)
    first.resume()
    services.until(lambda: first.returned(job.id), 120, "the woken worker's run to return")
    assert snapshot(bench, *folders) == finished, "the woken worker wrote after losing its job"
    assert job.info().state == "succeeded"
    return job


def test_a_woken_ingest_worker_undoes_nothing(
    bench: Workbench, start_worker: StartWorker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "digits", {str(d): 600 for d in range(10)}, fmt="JPEG")
    stall_then_wake(
        bench, start_worker, "imagery", lambda: bench.ingest_job(folder, "digits", processes=1, chunk=ONE),
        lambda job: 0 < job.info().progress < 0.5, bench.settings.data_dir / "blobs",
    )  # fmt: skip
    assert bench.dataset("digits").count() == 6000


def test_a_woken_augment_worker_writes_nothing(
    bench: Workbench, start_worker: StartWorker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 1500, "dog": 1500}, fmt="JPEG")
    bench.ingest(folder, "pets")
    pets, recipe = bench.dataset("pets"), {"rotate": 10, "hflip": 0.5}
    stall_then_wake(
        bench, start_worker, "imagery",
        lambda: bench.augment(pets, recipe, copies=2, name="pets2", processes=1, chunk=ONE),
        lambda job: 0 < job.info().progress < 0.5, bench.settings.data_dir / "blobs",
    )  # fmt: skip
    assert bench.dataset("pets2").count() == 6000


@pytest.fixture
def digits(bench: Workbench, tmp_path: Path) -> Workbench:
    from workbench.demo import write_digits

    images, csv = write_digits(tmp_path / "digits")
    bench.ingest(images, "digits", labels_csv=csv, label_column="digit", split="0.8,0.1,0.1")
    return bench


def test_a_woken_training_worker_writes_no_checkpoint_and_no_model(
    digits: Workbench, start_worker: StartWorker
) -> None:
    models = digits.settings.data_dir / "models"

    def part_way(job: Job) -> bool:
        return (models / job.id / "checkpoints" / "last.ckpt").exists() and job.info().progress < 0.6

    job = stall_then_wake(
        digits, start_worker, "training",
        lambda: digits.train("digits", name="fenced", epochs=10, image_size=16, hflip=False),
        part_way, models,
    )  # fmt: skip
    assert [m["name"] for m in digits.models()] == ["fenced"] and job.info().result


def test_a_woken_predict_worker_writes_no_prediction(digits: Workbench, start_worker: StartWorker) -> None:
    trained = digits.train("digits", name="quick", epochs=1, image_size=16, hflip=False)
    worker = start_worker(queues="training")
    info = trained.wait(timeout=600)
    assert info.state == "succeeded", info
    worker.stop()
    model_id = info.result["model_id"] if info.result else 0
    stall_then_wake(
        digits, start_worker, "inference", lambda: digits.predict(model_id, "digits", chunk=ONE),
        lambda job: 0 < job.info().progress < 0.5,
    )  # fmt: skip
    with digits.catalog.engine.connect() as connection:
        count = connection.execute(text("SELECT count(*), count(DISTINCT image_id) FROM predictions")).one()
    assert tuple(count) == (1797, 1797)
