"""A job kind declared in this one file, and nowhere else, runs on the local worker and on a real
Celery worker: the workers load it from WORKBENCH_JOB_MODULES, as a deployment's own kinds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import Field

from tests import services
from tests.services import StartWorker
from workbench.api import Workbench
from workbench.config import Settings
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.runner import JobContext


# -- the whole kind ---------------------------------------------------------------------------------
class SumParams(JobParams):
    numbers: list[int] = Field(min_length=1, description="what to add up")


@job_kind("toy_sum", queue="imagery", params=SumParams)
def toy_sum(ctx: JobContext[SumParams]) -> dict[str, Any]:
    """Adds the numbers one by one, reporting progress and stopping at an abort."""
    total = 0
    for done, number in enumerate(ctx.params.numbers, 1):
        ctx.check_abort()
        total += number
        ctx.progress(done / len(ctx.params.numbers), f"{done} added", milestone=True)
    return {"sum": total, "worker": ctx.worker}


# -- where it runs ----------------------------------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_toy_kind_runs_on_the_local_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    settings = Settings(data_dir=tmp_path / "data", user="tester", job_modules=(__name__,))
    try:
        with Workbench(settings) as bench:
            info = bench.submit("toy_sum", {"numbers": [1, 2, 3, 4]}).wait(timeout=120)
        assert (info.state, info.result, info.progress) == (
            "succeeded",
            {"sum": 10, "worker": info.worker},
            1.0,
        )
        assert info.worker and info.worker.startswith("local@")
    finally:
        services.kill_local_worker(settings)


@pytest.fixture
def job_settings(job_settings: Settings) -> Settings:
    """The distributed setup (conftest), its workers told to load this module's kinds."""
    return job_settings.with_overrides(job_modules=(__name__,))


@pytest.mark.slow
@pytest.mark.postgres
def test_the_toy_kind_runs_on_a_celery_worker(bench: Workbench, start_worker: StartWorker) -> None:
    start_worker(queues="imagery")
    info = bench.submit("toy_sum", {"numbers": [5, 6]}).wait(timeout=120)
    assert (info.state, info.result and info.result["sum"]) == ("succeeded", 11), info
    assert info.worker and "test-" in info.worker  # the Celery worker, not this process
    done = services.cli(bench.settings, "submit", "toy_sum", '{"numbers": [7]}', "--json")
    assert done.returncode == 0 and '"sum": 7' in done.stdout, done.stderr
