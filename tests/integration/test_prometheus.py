"""Prometheus' configuration as Prometheus itself reads it (Debian's promtool 2.42): the scrape
config and alert rules are valid, and each alert fires on the series that should raise it and
stays quiet on healthy ones (docker/prometheus/alerts.test.yml)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[2] / "docker" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed (apt-get install -y --no-install-recommends prometheus)"
        if os.environ.get("WORKBENCH_REQUIRE_SERVICES") == "1":
            pytest.fail(message + "; WORKBENCH_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(message)
    return path


@pytest.mark.parametrize(
    "check",
    [
        ["check", "config", "prometheus.yml"],
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ],
)
def test_promtool_accepts_it(promtool: str, check: list[str]) -> None:
    done = subprocess.run(
        [promtool, *check], cwd=FOLDER, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
