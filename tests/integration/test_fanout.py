"""Fan-out on the real services: big ingest, augment and predict jobs split into chunk jobs that
real Celery workers take in parallel; a failed chunk and an abort undo the whole run, a chunk
whose worker is SIGKILLed runs again elsewhere, and every result is there exactly once
(counted in the rows: images, predictions, deliveries)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from tests import builders, services
from workbench.api import Workbench
from workbench.catalog.models import Dataset, Image, Model, Prediction
from workbench.catalog.models import Job as JobRow
from workbench.ingest import ingest

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CHUNK = 100  # small chunks keep each test to seconds


def _chunks(bench: Workbench, parent_id: str) -> list[JobRow]:
    with bench.catalog.sessions() as session:
        rows = list(session.scalars(select(JobRow).where(JobRow.parent_id == parent_id)))
        session.expunge_all()
    return sorted(rows, key=lambda row: row.params["index"])


def _ended_chunks(bench: Workbench, parent_id: str) -> list[JobRow]:
    """The chunks once none is queued or running: the last one records its own end just after
    the parent's (a waiter may read them in between)."""

    def ended() -> bool:
        return all(chunk.state not in ("queued", "running") for chunk in _chunks(bench, parent_id))

    services.until(ended, 30, "every chunk ended")
    return _chunks(bench, parent_id)


def _row(bench: Workbench, job_id: str) -> JobRow:
    with bench.catalog.sessions() as session:
        row = session.get_one(JobRow, job_id)
        session.expunge(row)
    return row


def _images(bench: Workbench, name: str) -> dict[str, tuple[str, str | None]]:
    """sha256 -> (label, split) of every image of dataset ``name``."""
    with bench.catalog.sessions() as session:
        query = select(Image.sha256, Image.label, Image.split).join(Dataset).where(Dataset.name == name)
        return {sha256: (label, split) for sha256, label, split in session.execute(query)}


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _count(bench: Workbench, what: Any) -> int:
    with bench.catalog.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(what)) or 0)


# -- ingest -------------------------------------------------------------------------------------
def test_ingest_over_two_workers_gives_the_dataset_one_process_gives(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "folder", {"cats": 450, "dogs": 400, "owls": 350})
    first, second = start_worker(), start_worker()
    job = bench.submit("ingest", {"path": str(folder), "name": "fanned", "split": "0.8,0.2", "chunk": CHUNK})
    info = job.wait(timeout=300)
    assert info.state == "succeeded", info.error
    ingest(bench.catalog, folder, "alone", split="0.8,0.2", processes=1)

    assert _images(bench, "fanned") == _images(bench, "alone")  # same hashes, labels and splits
    assert len(_images(bench, "fanned")) == 1200
    assert info.result is not None and info.result["ingested"] == 1200
    chunks = _ended_chunks(bench, job.id)
    assert len(chunks) == 12 and {c.state for c in chunks} == {"succeeded"}
    assert {c.deliveries for c in chunks} == {1}
    workers = {c.worker for c in chunks}
    assert len(workers) == 2, f"both workers ({first.name}, {second.name}) should take chunks: {workers}"
    assert (info.chunks, info.chunks_done, info.progress) == (12, 12, 1.0)
    assert [j.id for j in bench.jobs()] == [job.id]  # the chunks are not listed as jobs of their own


def test_a_chunk_failing_for_good_fails_the_job_and_undoes_everything(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "folder", {"cats": 500, "dogs": 500})
    archive = builders.zip_of(folder, tmp_path / "pets.zip")
    hashes = [builders.image_bytes(seed) for seed in range(1000)]
    worker = start_worker()
    job = bench.submit("ingest", {"path": str(archive), "name": "pets", "chunk": CHUNK})
    services.until(lambda: _row(bench, job.id).chunks_done >= 1, 120, "a first chunk to be done")
    worker.pause()  # hold the worker while the source goes away: the next chunks cannot read it
    archive.unlink()
    worker.resume()

    info = job.wait(timeout=120)
    assert info.state == "failed"
    assert "a chunk failed" in (info.error or "") and "does not exist" in (info.error or ""), info.error
    chunks = _ended_chunks(bench, job.id)
    states = [c.state for c in chunks]
    assert "failed" in states and "queued" not in states and "running" not in states, states
    assert _count(bench, Image) == 0 and _count(bench, Dataset) == 0  # the rows of done chunks too
    store = bench.catalog.store
    assert not any(store.has(_sha256(data)) for data in hashes)  # and every blob


def test_an_abort_reaches_the_running_chunks_and_undoes_the_run(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "folder", {"cats": 600, "dogs": 600})
    workers = [start_worker(), start_worker()]
    job = bench.submit("ingest", {"path": str(folder), "name": "pets", "chunk": CHUNK})

    def running_after_one_done() -> list[str]:
        chunks = _chunks(bench, job.id)
        done = sum(c.state == "succeeded" for c in chunks)
        return [c.id for c in chunks if c.state == "running"] if done else []

    while True:  # freeze the chunks mid-run, so that the abort must reach them
        services.until(running_after_one_done, 120, "a chunk running after a first one is done")
        for worker in workers:
            worker.pause()
        if (running := running_after_one_done()) and not _open_transactions(bench):
            break
        for worker in workers:
            worker.resume()
    job.abort()
    for worker in workers:
        worker.resume()

    info = job.wait(timeout=120)
    assert info.state == "aborted", info
    chunks = {c.id: c for c in _ended_chunks(bench, job.id)}
    assert running and all(chunks[c].state in ("aborted", "succeeded") for c in running)
    assert {c.state for c in chunks.values()} <= {"aborted", "succeeded"}
    assert sum(c.state == "aborted" for c in chunks.values()) >= 1
    assert _count(bench, Image) == 0 and _count(bench, Dataset) == 0
    assert not any(bench.catalog.store.has(_sha256(builders.image_bytes(s))) for s in range(1200))


# -- predict and evaluate -----------------------------------------------------------------------
CLASSES = ["cats", "dogs"]


def _pets_and_a_model(bench: Workbench, tmp_path: Path) -> int:
    """1,000 images as dataset ``pets`` and a model row whose export is a real (tiny) ONNX model."""
    ingest(bench.catalog, builders.image_folder(tmp_path / "pets", {"cats": 500, "dogs": 500}), "pets")
    export = builders.onnx_export(tmp_path / "tiny-model" / "export", CLASSES)
    with bench.catalog.transaction() as session:
        row = Model(
            owner=bench.catalog.user, name="tiny", arch="tiny", classes=CLASSES, image_size=8,
            export_dir=str(export),
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _frozen_mid_chunk(bench: Workbench, parent_id: str, worker: services.Worker) -> str:
    """Stop ``worker`` while it runs a chunk of ``parent_id``; returns that chunk's id."""
    host = worker.name.split("@")[0] + "@"

    def running_there() -> str | None:
        chunks = _chunks(bench, parent_id)
        return next(
            (c.id for c in chunks if c.state == "running" and (c.worker or "").startswith(host)), None
        )

    while True:
        services.until(running_there, 120, f"{worker.name} to run a chunk")
        worker.pause()
        # Still running now that the worker cannot move on, and holding no row lock that would
        # stop the others (the reaper, an abort) until it wakes.
        if (chunk_id := running_there()) and not _open_transactions(bench):
            return chunk_id
        worker.resume()


def _open_transactions(bench: Workbench) -> int:
    """Connections to the test's database in the middle of a transaction (a paused worker's).
    Running a statement counts too: Postgres finishes it after the pause, and the transaction
    then waits, holding its row locks, for a client that is frozen."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
    )
    with bench.catalog.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_a_chunk_whose_worker_is_killed_runs_again_and_every_prediction_is_there_once(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    model_id = _pets_and_a_model(bench, tmp_path)
    doomed, survivor = start_worker(queues="inference"), start_worker(queues="inference")
    job = bench.submit("predict", {"model_id": model_id, "view": {"dataset": "pets"}, "chunk": CHUNK})
    victim = _frozen_mid_chunk(bench, job.id, doomed)
    doomed.kill()

    info = job.wait(timeout=180)
    assert info.state == "succeeded", info.error
    assert info.result is not None and info.result["predicted"] == 1000
    chunks = _ended_chunks(bench, job.id)
    assert len(chunks) == 10 and {c.state for c in chunks} == {"succeeded"}
    assert {c.id: c.deliveries for c in chunks} == {c.id: 2 if c.id == victim else 1 for c in chunks}
    assert next(c for c in chunks if c.id == victim).worker.startswith(survivor.name.split("@")[0])
    with bench.catalog.sessions() as session:
        rows = session.execute(select(Prediction.image_id, Prediction.job_id)).all()
        images = set(session.scalars(select(Image.id)))
    assert len(rows) == 1000 and {image for image, _ in rows} == images  # each image exactly once
    assert {job_id for _, job_id in rows} == {job.id}


def test_a_stalled_chunk_worker_woken_after_its_chunk_ran_elsewhere_writes_nothing(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cats": 500, "dogs": 500})
    first = start_worker()
    job = bench.submit("ingest", {"path": str(folder), "name": "pets", "chunk": CHUNK})
    victim = _frozen_mid_chunk(bench, job.id, first)  # stalled, not dead: its heartbeat stops
    start_worker()
    info = job.wait(timeout=300)
    assert info.state == "succeeded", info.error
    images, blobs = _images(bench, "pets"), sorted((bench.settings.data_dir / "blobs").rglob("*"))
    first.resume()
    services.until(lambda: first.returned(victim), 120, "the woken worker's run of its chunk to return")
    assert _images(bench, "pets") == images and len(images) == 1000
    assert sorted((bench.settings.data_dir / "blobs").rglob("*")) == blobs
    assert {c.id: c.deliveries for c in _chunks(bench, job.id)}[victim] == 2


def test_evaluate_fanned_out_gives_the_metrics_of_one_process(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    model_id = _pets_and_a_model(bench, tmp_path)
    start_worker(queues="inference")
    view = {"dataset": "pets"}
    fanned = bench.submit("evaluate", {"model_id": model_id, "view": view, "chunk": CHUNK}).wait(timeout=120)
    fanned_metrics = _evaluation(bench, model_id)
    alone = bench.submit("evaluate", {"model_id": model_id, "view": view, "chunk": 100_000}).wait(timeout=120)
    assert (fanned.state, alone.state) == ("succeeded", "succeeded"), (fanned.error, alone.error)
    assert fanned.chunks == 10 and alone.chunks == 0
    assert fanned.result == alone.result and fanned.result is not None and fanned.result["n"] == 1000
    assert fanned_metrics == _evaluation(bench, model_id)  # confusion, per class, misclassified...


def _evaluation(bench: Workbench, model_id: int) -> dict[str, Any]:
    with bench.catalog.sessions() as session:
        evaluations = session.get_one(Model, model_id).metrics["evaluations"]
    assert len(evaluations) == 1
    return dict(next(iter(evaluations.values())))


# -- augment ------------------------------------------------------------------------------------
def test_augment_over_two_workers_makes_the_images_one_process_makes(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    from workbench.derive import augment_view
    from workbench.derive.job import AugmentParams

    ingest(bench.catalog, builders.image_folder(tmp_path / "pets", {"cats": 160, "dogs": 140}), "pets")
    start_worker(), start_worker()
    request = {"view": {"dataset": "pets"}, "recipe": {"hflip": 0.5, "rotate": 15}, "copies": 2, "seed": 7}
    job = bench.submit("augment", {**request, "name": "fanned", "chunk": CHUNK})
    info = job.wait(timeout=300)
    assert info.state == "succeeded", info.error
    augment_view(bench.catalog, AugmentParams.model_validate({**request, "name": "alone", "processes": 1}))

    assert _images(bench, "fanned") == _images(bench, "alone") and len(_images(bench, "alone")) == 600
    assert info.result is not None and (info.result["images"], info.result["added"]) == (600, 600)
    chunks = _ended_chunks(bench, job.id)
    assert info.chunks == len(chunks) == 6 and {c.state for c in chunks} == {"succeeded"}
    assert len({c.worker for c in chunks}) == 2
    with bench.catalog.sessions() as session:
        params = {
            d.name: d.params for d in session.scalars(select(Dataset).where(Dataset.kind == "augmented"))
        }
    recipe = {k: v for k, v in params["alone"].items() if k not in ("job_id", "name")}
    assert {k: v for k, v in params["fanned"].items() if k not in ("job_id", "name")} == recipe


# -- how work is cut, and where it is not -------------------------------------------------------
def test_id_ranges_cover_a_filtered_view_once_in_chunks_of_the_size(
    workbench: Workbench, tmp_path: Path
) -> None:
    ingest(workbench.catalog, builders.image_folder(tmp_path / "pets", {"cats": 25, "dogs": 22}), "pets")
    view = workbench.dataset("pets").filter(label="cats")
    ranges = view.id_ranges(10)
    shares = [view.between(after, upto) for after, upto in ranges]
    assert [len(share) for share in shares] == [10, 10, 5]
    assert [r.id for share in shares for r in share] == view.ids()


def test_the_embedded_default_keeps_one_process(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cats": 30})
    info = workbench.submit("ingest", {"path": str(folder), "name": "pets", "chunk": 10}).wait(timeout=120)
    assert info.state == "succeeded" and info.chunks == 0, info.error
    assert _count(workbench, JobRow) == 1 and len(_images(workbench, "pets")) == 30
