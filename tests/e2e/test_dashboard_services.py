"""The same dashboard on the distributed setup: Postgres for the catalog, RabbitMQ carrying the
ingest and the training to a real Celery worker, Redis for live progress."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests import services
from tests.e2e.browser import chromium, dashboard
from tests.e2e.test_dashboard import SECONDS, image_folder_zip, ingest_zip, new_page, open_tab, status
from workbench.config import Settings

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_the_dashboard_ingests_and_trains_through_celery_workers(
    job_settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]
) -> None:
    from playwright.sync_api import expect

    archive = image_folder_zip([f for f in digit_files[:450] if f[1] in "012"], tmp_path / "digits.zip")
    worker = services.Worker(job_settings, tmp_path / "worker.log", queues="imagery,training", concurrency=2)
    try:
        with dashboard(job_settings, tmp_path / "home") as served, chromium() as browser:
            page = new_page(browser)
            page.goto(served.url)
            expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
            ingest_zip(page, archive, "digits", "images ingested")

            open_tab(page, "Train")
            page.locator(".workbench-epochs input").fill("1")
            page.locator(".workbench-epochs input").press("Tab")
            page.get_by_role("button", name="Start training").click()
            expect(status(page, "training")).to_contain_text("trained: test accuracy", timeout=600 * SECONDS)
            open_tab(page, "Models")
            expect(page.locator(".workbench-confusion")).to_have_attribute("src", re.compile("^blob:"))
        log = (tmp_path / "worker.log").read_text()
        assert "workbench.ingest" in log and "workbench.train" in log  # the worker did both jobs
    finally:
        worker.stop()
