"""A report schedule run by Celery beat (``workbench scheduler``) through a real imagery worker,
on Postgres, RabbitMQ (a throwaway vhost) and Redis: every entry tick queues a report job, the
worker executes the notebook, and only the newest reports are kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import builders, services
from workbench.api import Workbench
from workbench.config import Settings
from workbench.reports import list_reports

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
SCHEDULE = """
[[report]]
name = "pets-often"
kind = "dataset"
params = { dataset = "pets" }
every = 2
keep = 2
"""


@pytest.fixture
def job_settings(job_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """conftest's distributed setup, with the report kernels' runtime files under tmp_path."""
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):  # kernels write here, not under $HOME
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    return job_settings


def _scheduler(settings: Settings, schedule: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(settings.environ(), PYTHONPATH=str(services.REPO))
    with open(log, "ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "scheduler", "--schedule", str(schedule)],
            env=env, cwd=services.REPO, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def test_a_beat_schedule_makes_reports_through_a_real_worker_and_keeps_the_newest(
    job_settings: Settings, tmp_path: Path
) -> None:
    bench = Workbench(job_settings)
    bench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 4, "dog": 3}), "pets")
    schedule = tmp_path / "reports.toml"
    schedule.write_text(SCHEDULE)
    worker = services.Worker(job_settings, tmp_path / "worker.log", queues="imagery")
    beat = _scheduler(job_settings, schedule, tmp_path / "beat.log")
    try:
        services.until(
            lambda: len(bench.jobs(kind="report", state="succeeded")) >= 3,
            420,
            "three scheduled reports made by the worker",
        )
    finally:
        os.killpg(beat.pid, signal.SIGTERM)
        beat.wait(timeout=30)
        worker.stop()
    log = (tmp_path / "beat.log").read_text()
    assert "Sending due task pets-often (workbench.scheduled_reports)" in log, log[-2000:]
    succeeded = {job.id for job in bench.jobs(kind="report", state="succeeded")}
    rows = list_reports(bench.catalog)
    assert len(rows) == 2, rows  # keep = 2: older ones deleted as newer ones were made
    assert all(r["params"] == {"dataset": "pets"} and r["job_id"] in succeeded for r in rows)
    html = sorted((job_settings.data_dir / "reports" / "dataset").glob("*/dataset_report.html"))
    assert sorted(Path(r["html_path"]) for r in rows) == html  # pruned reports' files are gone
    assert ">pets</td>" in html[-1].read_text()
    bench.close()
