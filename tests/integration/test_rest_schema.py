"""schemathesis against the REST API's own /openapi.json, every operation, a few generated
examples each (bounded, for CI), through real HTTP against uvicorn: no answer is a server error,
every answer matches the schema (status code, content type, body). Its command line, because its
pytest plugin does not run under pytest 9."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import builders, services
from tests.rest import running_api
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_every_operation_answers_within_its_schema(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", user="tester")
    with Workbench(settings) as bench:  # a dataset to find, beside everything generated
        bench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 3}), "pets", processes=1)
        token = bench.create_token("schemathesis", "write")[1]
    schemathesis = str(Path(sys.executable).parent / "schemathesis")
    try:
        with running_api(settings, tmp_path / "api.log") as api:
            done = subprocess.run(
                [schemathesis, "run", api.url + "/openapi.json", "--checks", CHECKS, "--max-examples", "4",
                 "--generation-deterministic", "--request-timeout", "60", "--no-color",
                 "--header", f"Authorization: Bearer {token}"],
                capture_output=True, text=True, timeout=1200, check=False,
            )  # fmt: skip
    finally:
        services.kill_local_worker(settings)
    report = done.stdout[-6000:]
    print(report)
    assert done.returncode == 0, report
    assert "operations" in report.lower(), report
