"""The REST API through a real HTTP client against uvicorn on loopback, with the real services
behind it (a team database on the service login, RabbitMQ, Redis, a Celery worker): the whole
flow by the API alone, every epoch of a training as a Server-Sent Event, and isolation (bob's
token gets 404 for each of alice's objects, a read-only token 403 for a write)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import builders, services
from tests.rest import Api, running_api
from tests.team import Team, team_database
from workbench.api import Workbench
from workbench.rest import recent

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
EPOCHS = 3
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def team(tmp_path: Path, broker_url: str) -> Iterator[tuple[Team, Api, dict[str, str]]]:
    jobs = {"broker_url": broker_url, "result_backend": services.REDIS_URL}
    with team_database(("alice", "bob")) as team:
        data = tmp_path / "data"  # one machine: the API, the worker and the people share its store
        service = team.service_settings(data, **jobs)
        worker = services.Worker(service, tmp_path / "worker.log", queues="imagery,training,inference")
        tokens = {}
        for name, scope in (("alice", "write"), ("bob", "write")):
            with Workbench(team.settings(name, data)) as bench:
                tokens[name] = bench.create_token(f"{name}'s script", scope)[1]
        with Workbench(team.settings("alice", data)) as bench:
            tokens["alice-read"] = bench.create_token("a dashboard on the wall", "read")[1]
        try:
            with running_api(service, tmp_path / "api.log") as api:
                yield team, api, tokens
        finally:
            worker.stop()


def _finished(client: httpx.Client, job: dict[str, Any], timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        reading = client.get(f"/v1/jobs/{job['id'] if 'id' in job else job['job']}").json()
        if reading["state"] in ("succeeded", "failed", "aborted"):
            assert reading["state"] == "succeeded", reading
            return dict(reading)
        assert time.monotonic() < deadline, reading
        time.sleep(0.5)


def _events(client: httpx.Client, job_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every Server-Sent Event of a job, until its end."""
    events, kind = [], "message"
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=600) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                events.append((kind, json.loads(line.split(":", 1)[1])))
                kind = "message"
    return events


def test_ingest_train_publish_predict_and_report_by_the_api_alone(
    team: tuple[Team, Api, dict[str, str]], tmp_path: Path
) -> None:
    _, api, tokens = team
    archive = builders.zip_of(
        builders.image_folder(tmp_path / "pets", {"cat": 30, "dog": 30}), tmp_path / "p.zip"
    )
    with api.client(tokens["alice"]) as alice:
        upload = alice.put("/v1/datasets/pets/zip", content=archive.read_bytes())
        assert upload.status_code == 202, upload.text
        assert _finished(alice, upload.json())["result"]["ingested"] == 60
        assert [d["name"] for d in alice.get("/v1/datasets").json()] == ["pets"]
        assert alice.post("/v1/views/labels", json={"dataset": "pets"}).json() == {"cat": 30, "dog": 30}
        first = alice.post("/v1/views/page", json={"dataset": "pets", "size": 40}).json()
        rest = alice.post("/v1/views/page", json={"dataset": "pets", "cursor": first["next_cursor"]}).json()
        assert len(first["images"]) + len(rest["images"]) == 60 and rest["next_cursor"] is None

        body = {"view": {"dataset": "pets"}, "params": {"epochs": EPOCHS, "image_size": 16, "hflip": False}}
        training = alice.post("/v1/train", json=body)
        assert training.status_code == 202, training.text
        events = _events(alice, training.json()["id"])
        assert [e["epoch"] for kind, e in events if kind == "epoch"] == list(range(1, EPOCHS + 1))
        assert events[-1][0] == "end" and events[-1][1]["state"] == "succeeded", events[-1]
        model_id = events[-1][1]["result"]["model_id"]

        with api.client(tokens["bob"]) as bob:  # before it is published, for everyone to see
            assert bob.get(f"/v1/models/{model_id}").status_code == 404
            assert bob.get(f"/v1/models/{model_id}/files/model.onnx").status_code == 404
        assert alice.post(f"/v1/models/{model_id}/publish").json()["published"] is True
        photo = io.BytesIO(builders.image_bytes(5))
        answer = alice.post(f"/v1/models/{model_id}/predict", content=photo.getvalue(), params={"k": 2})
        assert answer.status_code == 200, answer.text
        assert {t["label"] for t in answer.json()["top"]} == {"cat", "dog"}
        onnx = alice.get(f"/v1/models/{model_id}/files/model.onnx")
        assert onnx.status_code == 200 and len(onnx.content) > 1000
        checkpoint = alice.get(f"/v1/models/{model_id}/files/model.ckpt")
        assert checkpoint.status_code == 200 and checkpoint.content[:2] == b"PK"  # torch.save's zip

        report = alice.post("/v1/reports", json={"kind": "model", "params": {"model_id": model_id}})
        assert report.status_code == 202, report.text
        _finished(alice, report.json())
        (made,) = alice.get("/v1/reports").json()
        page = alice.get(f"/v1/reports/{made['id']}/html")
        assert page.status_code == 200 and "<html" in page.text.lower()

    # -- a collector posts photos with their labels (examples/collector.py, as a phone app) -------
    photos = builders.image_folder(tmp_path / "field", {"owl": 2, "cat": 1})
    collector = [sys.executable, str(REPO / "examples" / "collector.py"), str(photos), "--api", api.url,
                 "--token", tokens["alice"], "--dataset", "field"]  # fmt: skip
    sent = subprocess.run(collector, capture_output=True, text=True, timeout=600, check=False)
    assert sent.returncode == 0 and "3 photos sent" in sent.stdout, sent.stderr
    with api.client(tokens["alice"]) as alice:
        assert alice.post("/v1/views/labels", json={"dataset": "field"}).json() == {"owl": 2, "cat": 1}
        (owl, *_) = alice.post(
            "/v1/views/page", json={"dataset": "field", "filter": {"label": "owl"}}
        ).json()["images"]
        thumbnail = alice.get(f"/v1/images/{owl['id']}/thumbnail")
        assert thumbnail.status_code == 200 and thumbnail.content[:4] == b"\x89PNG"  # small: itself
        assert thumbnail.headers["content-type"] == "image/png"
        refused = alice.post("/v1/datasets/field/images", params={"label": "../x"}, content=b"x")
        assert refused.status_code == 400 and "cannot be a label" in refused.json()["detail"]

    # -- isolation: bob gets 404 for each of alice's objects; a read-only token 403 for a write ---
    with api.client(tokens["bob"]) as bob:
        assert bob.get("/v1/datasets").json() == []
        job_id = training.json()["id"]
        for method, path, kwargs in [
            ("GET", f"/v1/jobs/{job_id}", {}),
            ("POST", f"/v1/jobs/{job_id}/abort", {}),
            ("POST", "/v1/views/count", {"json": {"dataset": "pets"}}),
            ("GET", f"/v1/reports/{made['id']}/html", {}),
            ("DELETE", "/v1/datasets/pets", {}),
            ("GET", f"/v1/images/{owl['id']}/original", {}),
        ]:
            answer = bob.request(method, path, **kwargs)
            assert answer.status_code == 404, (method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
    with api.client(tokens["alice-read"]) as reader:
        assert reader.get("/v1/datasets").status_code == 200
        refused = reader.post(f"/v1/models/{model_id}/unpublish")
        assert refused.status_code == 403 and "only read" in refused.json()["detail"]
    with api.client("wb_nope_nope") as stranger:
        assert stranger.get("/v1/datasets").status_code == 401


def test_the_dashboard_makes_and_revokes_a_token_that_the_api_accepts_then_refuses(
    workbench: Workbench, tmp_path: Path
) -> None:
    """The API tab, driven in-process (its browser twin is the hub test's dashboard)."""
    from workbench.widgets.state import DashboardState
    from workbench.widgets.tokens import TokensPanel

    panel = TokensPanel(DashboardState(workbench))
    panel.name.value, panel.scope.value = "the wall display", "read"
    panel.create.click()
    text = panel.shown.value.split("<code style='user-select:all'>")[1].split("</code>")[0]
    assert text.startswith("wb_") and "workbench-ok" in panel.status.value
    try:
        with running_api(workbench.settings, tmp_path / "api.log") as api, api.client(text) as client:
            assert client.get("/v1/datasets").status_code == 200
            (token,) = workbench.tokens()
            panel._revoke(token.id)
            # Refused once the API's few seconds' memory of the token lapse (workbench/rest/recent.py).
            deadline = time.monotonic() + 3 * recent.SECONDS
            while client.get("/v1/datasets").status_code != 401:
                assert time.monotonic() < deadline, "a revoked token is still accepted"
                time.sleep(0.5)
    finally:
        services.kill_local_worker(workbench.settings)


def test_a_browser_logs_in_with_a_token_once_and_reads_the_docs_without_a_cdn(
    workbench: Workbench, tmp_path: Path
) -> None:
    """Nothing but /health without a login, the docs page included; a browser is sent to a login
    page, gives a token once and keeps it in a cookie; Swagger UI's files come from the API."""
    text = workbench.create_token("my browser", "read")[1]
    page = {"Accept": "text/html"}
    try:
        with running_api(workbench.settings, tmp_path / "api.log") as api, api.client() as browser:
            assert browser.get("/health").status_code == 200
            assert browser.get("/openapi.json").status_code == 401  # a program: a problem, no page
            sent = browser.get("/docs", headers=page)
            assert sent.status_code == 302 and sent.headers["location"] == "/login?next=%2Fdocs"
            wrong = browser.post("/login", data={"token": "wb_wrong_wrong", "next": "/docs"})
            assert wrong.status_code == 401 and "workbench tokens create" in wrong.text
            assert "workbench-api-token" not in browser.cookies
            right = browser.post("/login", data={"token": text, "next": "https://elsewhere.example/"})
            assert right.status_code == 303 and right.headers["location"] == "/docs"  # never elsewhere
            assert "httponly" in right.headers["set-cookie"].lower()
            docs = browser.get("/docs", headers=page)
            assert docs.status_code == 200 and "/docs/files/swagger-ui-bundle.js" in docs.text
            assert "cdn" not in docs.text.lower()
            bundle = browser.get("/docs/files/swagger-ui-bundle.js")
            assert bundle.status_code == 200 and len(bundle.content) > 100_000
            assert browser.get("/openapi.json").json()["info"]["title"] == "workbench"
            assert browser.delete("/v1/datasets/x").status_code == 403  # a read token, from its cookie
    finally:
        services.kill_local_worker(workbench.settings)
