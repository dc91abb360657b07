"""The operations view end to end: a real worker serving its metrics with a login, Debian's
Prometheus scraping it every second (its own pages behind a login too, and the repository's alert
rules loaded), an ingest and a training through RabbitMQ, then the operations report made from
Prometheus' HTTP API: the jobs, their waits and the figures are there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest

from tests import builders
from tests.e2e.browser import free_port
from tests.services import Worker
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
RULES = Path(__file__).resolve().parents[2] / "docker" / "prometheus" / "alerts.yml"
METRICS_PASSWORD, PROMETHEUS_PASSWORD = "scrape-me-please", "look-at-me-please"


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Prometheus on a free port scraping a worker's metrics port (returned); its URL has its login."""
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("WORKBENCH_REQUIRE_SERVICES") == "1":
            pytest.fail("prometheus is not installed (apt-get install -y --no-install-recommends prometheus)")
        pytest.skip("prometheus is not installed")
    folder, port, target = tmp_path / "prometheus", free_port(), free_port()
    folder.mkdir()
    shutil.copy(RULES, folder / "alerts.yml")
    (folder / "metrics_password").write_text(METRICS_PASSWORD)
    hashed = bcrypt.hashpw(PROMETHEUS_PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    (folder / "web.yml").write_text(f"basic_auth_users:\n  operator: {hashed}\n")
    (folder / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [alerts.yml]
scrape_configs:
  - job_name: workbench-workers
    basic_auth: {{username: prometheus, password_file: metrics_password}}
    static_configs: [{{targets: ["127.0.0.1:{target}"]}}]
""")
    with open(tmp_path / "prometheus.log", "ab") as log:
        process = subprocess.Popen(
            [binary, f"--config.file={folder / 'prometheus.yml'}", f"--web.config.file={folder / 'web.yml'}",
             f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield f"http://operator:{PROMETHEUS_PASSWORD}@127.0.0.1:{port}", target
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_operations_report_shows_what_prometheus_scraped(
    job_settings: Settings, prometheus: tuple[str, int], start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    url, target = prometheus
    env = {
        "WORKBENCH_METRICS_PORT": str(target), "WORKBENCH_METRICS_PASSWORD": METRICS_PASSWORD,
        "WORKBENCH_PROMETHEUS_URL": url,
    }  # fmt: skip
    start_worker(queues="imagery,training", cli=True, env=env)
    bare = url.replace(f"operator:{PROMETHEUS_PASSWORD}@", "")
    assert httpx.get(f"{bare}/api/v1/query", params={"query": "up"}, timeout=30).status_code == 401

    # Counted from Prometheus' first scrape on (increase() cannot see what came before it).
    _until_scraped(url, 'workbench_jobs_started_total{kind="ingest"}')
    with Workbench(job_settings.with_overrides(prometheus_url=url)) as bench:
        folder = builders.image_folder(tmp_path / "pets", {"cat": 12, "dog": 12})
        bench.ingest_job(folder, "pets", split="0.6,0.2,0.2", seed=0).wait(timeout=300)
        bench.train("pets", name="m", epochs=1, image_size=16, batch_size=8, hflip=False).wait(timeout=600)
        _until_scraped(url, 'workbench_jobs_ended_total{kind="train",state="succeeded"}')
        made = bench.report("operations", {"window": "30m"})
        html = bench.report_html(made["id"])
        page = html.read_text()

    assert "Operations" in page and "Jobs by kind" in page
    assert "2 jobs ended, 0 of them failed" in page  # the ingest and the training
    for kind in ("ingest", "train"):
        assert f">{kind}<" in page, kind
    assert "wait average (s)" in page and "workbench-figure" in page
    if folder_for_pictures := os.environ.get("OPERATIONS_SCREENSHOT"):
        _screenshot(html, Path(folder_for_pictures) / "operations.png")


def _until_scraped(url: str, promql: str, timeout: float = 60) -> None:
    """Until Prometheus has the series (it scrapes every second)."""
    base, auth = url.split("@", 1)[1], ("operator", PROMETHEUS_PASSWORD)
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"http://{base}/api/v1/query", params={"query": promql}, auth=auth, timeout=30)
        if answer.status_code == 200 and answer.json()["data"]["result"]:
            return
        assert time.monotonic() < deadline, f"Prometheus never saw {promql}: {answer.text[:300]}"
        time.sleep(1)


def _screenshot(page: Path, picture: Path) -> None:
    from tests.e2e.browser import chromium

    with chromium() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
        tab.goto(page.as_uri())
        tab.screenshot(path=str(picture), full_page=True)
