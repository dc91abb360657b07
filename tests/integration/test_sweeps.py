"""A sweep on the real services (Postgres, RabbitMQ, a Celery worker): three architectures
trained as one job, each training taking its turn in the queue (another person's training
submitted after the sweep starts before the sweep's last one), the best model marked and the
group's comparison report made at the end. And on the embedded default, in one process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from tests import builders, services
from tests.services import Worker
from workbench.api import Workbench
from workbench.catalog.models import Job as JobRow
from workbench.config import Settings
from workbench.errors import ParamsError

pytestmark = pytest.mark.slow
ARCHS = ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]
TINY = {"epochs": 1, "batch_size": 8, "hflip": False}


def _pets(bench: Workbench, tmp_path: Path, *, job: bool) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 12, "dog": 12})
    if job:
        bench.ingest_job(folder, "pets", split="0.6,0.2,0.2", seed=0).wait(timeout=300)
    else:
        bench.ingest(folder, "pets", split="0.6,0.2,0.2", seed=0)


def _check_conclusion(bench: Workbench, result: dict) -> list[int]:  # type: ignore[type-arg]
    ids = [m["model_id"] for m in result["models"]]
    assert [m["configuration"]["arch"] for m in result["models"]] == ARCHS
    accuracies = {m["model_id"]: m["accuracy"] for m in result["models"]}
    assert accuracies[result["best_model_id"]] == max(accuracies.values())
    marks = {i: bench.model(i).metrics["sweep"]["best"] for i in ids}
    assert marks == {i: i == result["best_model_id"] for i in ids}
    page = bench.report_html(result["report_id"]).read_text()
    for model_id in ids:
        assert bench.model(model_id).name in page
    return ids


@pytest.mark.postgres
def test_a_sweep_takes_turns_with_other_jobs_and_ends_with_its_comparison(
    job_settings: Settings, bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    start_worker(queues="imagery,training")  # one job at a time: the turns show
    _pets(bench, tmp_path, job=True)
    sweep = bench.sweep("pets", archs=ARCHS, image_sizes=[32], **TINY)
    with Workbench(job_settings.with_overrides(user="someone")) as someone:
        _pets(someone, tmp_path / "theirs", job=True)
        theirs = someone.train("pets", name="theirs", image_size=16, **TINY)
        done = sweep.wait(timeout=1800)
        assert done.state == "succeeded", done.error
        assert theirs.wait(timeout=600).state == "succeeded"
    _check_conclusion(bench, done.result or {})
    with bench.catalog.sessions() as session:
        trainings = session.scalars(
            select(JobRow.started_at).where(JobRow.parent_id == sweep.id).order_by(JobRow.started_at)
        ).all()
        their_start = session.scalars(select(JobRow.started_at).where(JobRow.id == theirs.id)).one()
    assert len(trainings) == 3 and their_start < trainings[-1]  # not behind all three


def test_a_sweep_on_the_embedded_default_runs_in_one_process(workbench: Workbench, tmp_path: Path) -> None:
    if not workbench.settings.is_sqlite:
        pytest.skip("the embedded default is SQLite's")
    _pets(workbench, tmp_path, job=False)
    with pytest.raises(ParamsError, match="unknown architecture 'vgg11'"):
        workbench.sweep("pets", archs=["vgg11"])
    try:
        done = workbench.sweep("pets", archs=ARCHS, image_sizes=[32], **TINY).wait(timeout=1800)
        assert done.state == "succeeded", done.error
        _check_conclusion(workbench, done.result or {})
    finally:
        services.kill_local_worker(workbench.settings)


def test_the_train_tab_starts_a_sweep_and_says_what_is_wrong(workbench: Workbench, tmp_path: Path) -> None:
    from workbench.widgets.state import DashboardState
    from workbench.widgets.training import TrainingPanel

    if not workbench.settings.is_sqlite:
        pytest.skip("the embedded default is SQLite's")
    _pets(workbench, tmp_path, job=False)
    state = DashboardState(workbench)
    state.dataset = "pets"
    tab = TrainingPanel(state)
    sweep = tab.sweep.children[0]
    tab.epochs.value, tab.hflip.value = 1, False
    sweep.lrs.value = "0.01, fast"
    sweep.start.click()
    assert "learning rates: give numbers separated by commas" in sweep.status.value
    sweep.lrs.value, sweep.sizes.value, sweep.archs.value = "0.002", "16", ("resnet18", "mobilenet_v3_small")
    try:
        sweep.start.click()
        (job,) = sweep.job_area.children
        done = workbench.job(job.job.id).wait(timeout=900)
        assert done.state == "succeeded" and len((done.result or {})["models"]) == 2
    finally:
        services.kill_local_worker(workbench.settings)
