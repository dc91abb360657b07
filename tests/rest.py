"""The REST API for a test: `workbench api` for real (uvicorn on loopback, as a process of its
own) on a team database's service login, stopped afterwards whatever happens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.browser import free_port
from workbench.config import Settings
from workbench.widgets.serve import stop_tree

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Api:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


@contextmanager
def running_api(settings: Settings, log: Path, env: dict[str, str] | None = None) -> Iterator[Api]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    environment.update(settings.environ(), PYTHONPATH=str(REPO), **(env or {}))
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "workbench.cli", "api", "--port", str(port)], env=environment, cwd=REPO,
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    api = Api(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the API exited at start:\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(api.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield api
    finally:
        stop_tree(process, grace=20)
