"""Flower without Docker, as the README says: ``celery -A workers.app flower`` on a real broker,
behind its own login, listing a real worker through its API."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests import services
from tests.e2e.browser import free_port
from workbench.config import Settings

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
LOGIN = "watcher:a-long-test-password"


def _get(url: str, login: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def test_flower_runs_from_the_package_behind_a_login_and_lists_the_worker(
    job_settings: Settings, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    worker = start_worker(queues="inference")
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    environment.update(job_settings.environ(), PYTHONPATH=str(services.REPO))
    command = [sys.executable, "-m", "celery", "-A", "workers.app", "flower", f"--port={port}",
               "--address=127.0.0.1", f"--basic-auth={LOGIN}"]  # fmt: skip
    with open(tmp_path / "flower.log", "ab") as log:
        flower = subprocess.Popen(command, env=environment, cwd=services.REPO, stdout=log, stderr=log)
    try:
        base = f"http://127.0.0.1:{port}"

        def answering() -> int | None:
            assert flower.poll() is None, (tmp_path / "flower.log").read_text()[-3000:]
            try:
                return _get(f"{base}/api/workers")[0]
            except OSError:  # not listening yet
                return None

        assert services.until(answering, 60, "Flower to answer") == 401  # nothing without the login
        assert _get(f"{base}/", "watcher:wrong")[0] == 401
        host = worker.name.split("@")[0]

        def listed() -> list[str]:
            status, workers = _get(f"{base}/api/workers?refresh=1", LOGIN)
            assert status == 200
            return [name for name in workers or {} if name.startswith(host + "@")]

        names = services.until(listed, 60, f"Flower to list {worker.name}")
        assert isinstance(names, list) and len(names) == 1
    finally:
        flower.terminate()
        try:
            flower.wait(timeout=20)
        except subprocess.TimeoutExpired:
            flower.kill()
            flower.wait()
