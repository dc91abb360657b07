"""Chains on real services: an ingest (or augment), then predict, as one request and one handle.

The second step starts only when the first succeeds, on a worker of concurrency 1 serving both
queues (nothing waits in a worker slot); a first step that fails or is aborted starts nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests import builders
from tests.rest import running_api
from tests.services import Worker
from workbench.api import Workbench
from workbench.catalog import Dataset, Image
from workbench.catalog.models import Job as JobRow
from workbench.catalog.models import Model, Prediction
from workbench.errors import NotFoundError
from workbench.jobs.records import ABORTED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED
from workbench.widgets.datasets import DatasetPicker
from workbench.widgets.state import DashboardState

pytestmark = [pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
CLASSES = ["cats", "dogs"]
TIMEOUT = 120


def _tiny_model(bench: Workbench, tmp_path: Path, name: str = "tiny") -> int:
    """A model row whose export is a real (tiny) ONNX model: predicting works, no training needed."""
    export = builders.onnx_export(tmp_path / "tiny-model" / "export", CLASSES)
    with bench.catalog.transaction() as session:
        row = Model(owner=bench.catalog.user, name=name, arch="tiny", classes=CLASSES, image_size=8,
                    export_dir=str(export))  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def _predicted(bench: Workbench, model_id: int, dataset: str) -> tuple[int, int]:
    """(images of ``dataset``, predictions of ``model_id`` on them)."""
    with bench.catalog.sessions() as session:
        dataset_id = session.scalar(select(Dataset.id).where(Dataset.name == dataset))
        images = select(Image.id).where(Image.dataset_id == dataset_id)
        n = session.scalar(select(func.count()).select_from(images.subquery()))
        predicted = session.scalar(
            select(func.count()).where(Prediction.model_id == model_id, Prediction.image_id.in_(images))
        )
    return n or 0, predicted or 0


def _job_rows(bench: Workbench) -> dict[str, str]:
    """Every top-level job row: kind to state."""
    with bench.catalog.sessions() as session:
        rows = session.execute(select(JobRow.kind, JobRow.state).where(JobRow.parent_id.is_(None))).all()
    return dict(rows)


@pytest.mark.postgres
@pytest.mark.parametrize("chunk", [2, 2048], ids=["fanned-out", "one-process"])
def test_ingest_then_predict_by_name(
    bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path, chunk: int
) -> None:
    model_id = _tiny_model(bench, tmp_path)
    start_worker(queues="imagery,inference", concurrency=1)  # one slot: a waiting step would deadlock
    folder = builders.image_folder(tmp_path / "pets", {"cats": 3, "dogs": 3})
    job = bench.ingest_job(folder, "pets", then_predict="tiny", chunk=chunk)

    info = job.wait(timeout=TIMEOUT)

    assert info.state == SUCCEEDED, info
    assert [(step.kind, step.state) for step in info.steps] == [("ingest", SUCCEEDED), ("predict", SUCCEEDED)]
    assert info.kind == "ingest+predict"
    assert info.steps[0].chunks == (3 if chunk == 2 else 0)  # started by the fan-in, or by the runner
    assert _predicted(bench, model_id, "pets") == (6, 6)
    assert (info.result or {})["predicted"] == 6
    assert bench.job(job.id).info().steps[1].id == info.steps[1].id  # any handle on it shows both


@pytest.mark.postgres
def test_augment_then_predict(bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path) -> None:
    model_id = _tiny_model(bench, tmp_path)
    start_worker(queues="imagery,inference")
    bench.ingest_job(builders.image_folder(tmp_path / "pets", {"cats": 2, "dogs": 2}), "pets").wait(TIMEOUT)
    job = bench.augment(bench.dataset("pets"), {"hflip": 1.0}, name="pets-flipped", then_predict=model_id)

    info = job.wait(timeout=TIMEOUT)

    assert info.state == SUCCEEDED, info
    assert [step.kind for step in info.steps] == ["augment", "predict"]
    images, predicted = _predicted(bench, model_id, "pets-flipped")
    assert images > 0 and predicted == images


@pytest.mark.postgres
def test_a_failed_first_step_starts_nothing(
    bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    _tiny_model(bench, tmp_path)
    start_worker(queues="imagery,inference")
    evil = builders.traversal_zip(tmp_path / "evil.zip", "../evil.png")  # refused on the worker
    job = bench.ingest_job(evil, "pets", then_predict="tiny")

    info = job.wait(timeout=TIMEOUT)

    assert info.state == FAILED
    assert [step.kind for step in info.steps] == ["ingest"]
    assert info.error is not None and info.error.startswith("ingest failed, predict not started: ")
    assert "'../evil.png'" in info.error
    assert "predict" not in _job_rows(bench)


@pytest.mark.postgres
def test_abort_before_the_first_step_runs(
    bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    _tiny_model(bench, tmp_path)
    job = bench.ingest_job(builders.image_folder(tmp_path / "pets", {"cats": 2}), "pets", then_predict="tiny")
    job.abort()  # no worker yet: it is still queued
    start_worker(queues="imagery,inference")  # gets the message, finds nothing to run

    info = job.wait(timeout=TIMEOUT)

    assert info.state == ABORTED
    assert info.message == "aborted before it started; predict not started"
    assert _job_rows(bench) == {"ingest": ABORTED}


@pytest.mark.postgres
def test_abort_while_the_first_step_runs(
    bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    """Aborted as soon as the ingest is seen running. Whether the ingest stops midway or its end
    beats the abort, predict never runs: no worker takes the inference queue until the chain
    has ended, and then the one that starts finds predict (if it was written) aborted. (Freezing
    the worker to hold the ingest mid-way is no good: frozen inside a transaction, it holds the
    row lock the abort waits for.)"""
    model_id = _tiny_model(bench, tmp_path)
    start_worker(queues="imagery")
    folder = builders.image_folder(tmp_path / "pets", {"cats": 500, "dogs": 500})
    job = bench.ingest_job(folder, "pets", then_predict="tiny", processes=1)
    next(info for info in job.watch(0.02) if info.state == RUNNING or info.finished)
    job.abort()
    info = job.wait(timeout=TIMEOUT)
    start_worker(queues="inference")  # predict's message, if it was sent, finds it aborted
    time.sleep(2)

    assert info.state == ABORTED, info
    assert info.message.endswith("not started") or [s.state for s in info.steps][1:] == [ABORTED], info
    assert _job_rows(bench).get("predict") in (None, ABORTED)
    assert _predicted(bench, model_id, "pets")[1] == 0


@pytest.mark.postgres
def test_abort_between_the_steps(
    bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    model_id = _tiny_model(bench, tmp_path)
    imagery = start_worker(queues="imagery")  # no inference worker: predict waits in its queue
    job = bench.ingest_job(builders.image_folder(tmp_path / "pets", {"cats": 2}), "pets", then_predict="tiny")
    steps = next(info.steps for info in job.watch(0.1) if len(info.steps) == 2 or info.finished)
    assert [step.state for step in steps] == [SUCCEEDED, QUEUED]  # the ingest done, predict waiting

    job.abort()
    imagery.stop()
    start_worker(queues="inference")  # gets predict's message, finds it aborted
    info = job.wait(timeout=TIMEOUT)

    assert info.state == ABORTED
    assert [(step.kind, step.state) for step in info.steps] == [("ingest", SUCCEEDED), ("predict", ABORTED)]
    assert _predicted(bench, model_id, "pets") == (2, 0)


@pytest.mark.postgres
def test_an_unknown_model_is_refused_before_anything_is_queued(bench: Workbench, tmp_path: Path) -> None:
    _tiny_model(bench, tmp_path)
    with pytest.raises(
        NotFoundError, match=r"no model named 'nope' of yours or published; your models: \d+ \(tiny\)"
    ):
        bench.ingest_job(builders.image_folder(tmp_path / "pets", {"cats": 2}), "pets", then_predict="nope")
    assert _job_rows(bench) == {}


def test_ingest_then_predict_embedded(workbench: Workbench, tmp_path: Path) -> None:
    """The embedded default: the local worker runs both steps, one after the other."""
    model_id = _tiny_model(workbench, tmp_path)
    folder = builders.image_folder(tmp_path / "pets", {"cats": 2, "dogs": 2})

    info = workbench.ingest_job(folder, "pets", then_predict=model_id).wait(timeout=TIMEOUT)

    assert info.state == SUCCEEDED, info
    assert [(step.kind, step.state) for step in info.steps] == [("ingest", SUCCEEDED), ("predict", SUCCEEDED)]
    assert _predicted(workbench, model_id, "pets") == (4, 4)
    assert f"step 2 predict {info.steps[1].id[:12]}: succeeded" in repr(info)


@pytest.mark.postgres
def test_a_zip_upload_then_predict_by_the_rest_api(
    bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    model_id = _tiny_model(bench, tmp_path)
    start_worker(queues="imagery,inference")
    archive = builders.zip_of(
        builders.image_folder(tmp_path / "pets", {"cats": 2, "dogs": 2}), tmp_path / "p.zip"
    )
    token = bench.create_token("a script", "write")[1]
    with running_api(bench.settings, tmp_path / "api.log") as api, api.client(token) as client:
        upload = client.put(
            "/v1/datasets/pets/zip", params={"then_predict": "tiny"}, content=archive.read_bytes()
        )
        assert upload.status_code == 202, upload.text
        reading = _rest_finished(client, upload.json()["job"])

    assert reading["state"] == SUCCEEDED, reading
    assert [(step["kind"], step["state"]) for step in reading["steps"]] == [
        ("ingest", SUCCEEDED), ("predict", SUCCEEDED),
    ]  # fmt: skip
    assert _predicted(bench, model_id, "pets") == (4, 4)


def _rest_finished(client: httpx.Client, job_id: str) -> dict[str, object]:
    while (reading := client.get(f"/v1/jobs/{job_id}").json())["state"] not in FINISHED:
        pass
    return dict(reading)


def test_the_ingest_panel_chains_a_prediction(workbench: Workbench, tmp_path: Path) -> None:
    """The dashboard's 'then predict with': the embedded default's local worker runs both steps."""
    model_id = _tiny_model(workbench, tmp_path)
    panel = DatasetPicker(DashboardState(workbench))
    panel.server_path.value = str(builders.image_folder(tmp_path / "pets", {"cats": 2, "dogs": 2}))
    panel.name.value = "pets"
    panel.then_predict.value = True
    assert panel.predict_model.value == model_id  # the one model with an export, chosen

    panel._ingest(panel.ingest_button)
    info = workbench.job(workbench.jobs(kind="ingest")[0].id).wait(timeout=TIMEOUT)

    assert info.state == SUCCEEDED, info
    assert [(step.kind, step.state) for step in info.steps] == [("ingest", SUCCEEDED), ("predict", SUCCEEDED)]
    assert _predicted(workbench, model_id, "pets") == (4, 4)


def test_the_cli_ingests_then_predicts(workbench: Workbench, env_for: dict[str, str], tmp_path: Path) -> None:
    model_id = _tiny_model(workbench, tmp_path)
    folder = builders.image_folder(tmp_path / "pets", {"cats": 2, "dogs": 2})
    env = {**env_for, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "workbench.cli", "ingest", str(folder), "--name", "pets"]
    done = subprocess.run(
        [*command, "--then-predict", "tiny", "--json"], env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["ingested"], report["predicted"], report["model_id"]) == (4, 4, model_id)
