"""A real Celery worker (started by `workbench worker`) serving Prometheus metrics with a login:
the counters and histograms move for an ingest and a training sent through RabbitMQ, the queue
gauges come from the broker, and a scrape without the password is refused. The REST API's own
metrics move for its requests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import builders, services
from tests.e2e.browser import free_port
from tests.rest import running_api
from tests.services import Worker
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
PASSWORD = "scrape-me-please"


def scrape(
    port: int, password: str | None = PASSWORD
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint: (name, sorted labels) -> value."""
    auth = ("prometheus", password) if password else None
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics", auth=auth, timeout=30)
    answer.raise_for_status()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_a_worker_counts_an_ingest_and_a_training(
    job_settings: Settings, bench: Workbench, start_worker: Callable[..., Worker], tmp_path: Path
) -> None:
    port = free_port()
    metered = {"WORKBENCH_METRICS_PORT": str(port), "WORKBENCH_METRICS_PASSWORD": PASSWORD}
    start_worker(queues="imagery,training", cli=True, env=metered)
    refused = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    assert refused.status_code == 401 and "workbench" not in refused.text
    wrong = httpx.get(f"http://127.0.0.1:{port}/metrics", auth=("prometheus", "guess"), timeout=30)
    assert wrong.status_code == 401
    before = scrape(port)
    assert value(before, "workbench_queue_consumers", queue="imagery") >= 1  # from the broker
    assert value(before, "workbench_images_total", stage="ingested") == 0

    folder = builders.image_folder(tmp_path / "pets", {"cat": 12, "dog": 12})
    bench.ingest_job(folder, "pets", split="0.6,0.2,0.2", seed=0).wait(timeout=300)
    bench.train("pets", name="m", epochs=2, image_size=16, batch_size=8, hflip=False).wait(timeout=600)

    after = scrape(port)
    assert value(after, "workbench_images_total", stage="ingested") == 24
    for kind in ("ingest", "train"):
        assert value(after, "workbench_jobs_started_total", kind=kind) >= 1, kind
        assert value(after, "workbench_jobs_ended_total", kind=kind, state="succeeded") >= 1, kind
        assert value(after, "workbench_job_queue_wait_seconds_count", kind=kind) >= 1, kind
        assert value(after, "workbench_job_run_seconds_count", kind=kind, state="succeeded") >= 1, kind
    assert value(after, "workbench_training_epoch_seconds_count", arch="resnet18") == 2
    assert value(after, "workbench_training_images_total", arch="resnet18") == 2 * 14  # 60 % of 24, twice
    assert value(after, "workbench_queue_messages", queue="training") == 0


def test_the_api_counts_its_requests_by_route(workbench: Workbench, tmp_path: Path) -> None:
    port = free_port()
    token = workbench.create_token("metrics", "read")[1]
    env = {"WORKBENCH_METRICS_PORT": str(port), "WORKBENCH_METRICS_PASSWORD": PASSWORD}
    try:
        with running_api(workbench.settings, tmp_path / "api.log", env=env) as api:
            with api.client(token) as client:
                for _ in range(3):
                    assert client.get("/v1/datasets").status_code == 200
                assert client.get("/v1/models/999999").status_code == 404
            samples = scrape(port)
    finally:
        services.kill_local_worker(workbench.settings)
    assert value(samples, "workbench_api_requests_total", route="/v1/datasets", status="200") == 3
    assert value(samples, "workbench_api_requests_total", route="/v1/models/{model_id}", status="404") == 1
    assert value(samples, "workbench_api_request_seconds_count", route="/v1/datasets") == 3
