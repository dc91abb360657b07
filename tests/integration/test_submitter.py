"""Jobs run as their submitter: a worker whose own user is someone else (as in the compose stack
and on a team server, where workers run as a service) reads and writes every job of every kind
as the user who submitted it. Each row a job makes, in every table, is the submitter's."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from tests import builders, services
from workbench.api import Workbench

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORKER_USER = "workbench-service"  # not the submitter ("tester", the bench's user)
TABLES = ("datasets", "images", "jobs", "models", "predictions", "reports")
CHUNK = 100  # the fan-out kinds split into chunk jobs, which must act as the submitter too


def test_every_kind_runs_as_its_submitter_on_a_worker_of_another_user(
    bench: Workbench, start_worker: services.StartWorker, tmp_path: Path
) -> None:
    for queues in ("imagery", "training", "inference"):
        start_worker(queues=queues, env={"WORKBENCH_USER": WORKER_USER})
    folder = builders.image_folder(tmp_path / "shapes", {"circle": 120, "square": 120})

    def done(kind: str, params: dict[str, object]) -> dict[str, object]:
        info = bench.submit(kind, params).wait(timeout=600)
        assert info.state == "succeeded", (kind, info.error)
        return info.result or {}

    done("ping", {})
    done("ingest", {"path": str(folder), "name": "shapes", "split": "0.8,0.2", "chunk": CHUNK})
    done(
        "augment",
        {
            "view": {"dataset": "shapes"},
            "recipe": {"hflip": 1.0},
            "name": "flipped",
            "processes": 1,
            "chunk": CHUNK,
        },
    )
    model_id = done("train", {"view": {"dataset": "shapes"}, "epochs": 1, "image_size": 16, "hflip": False})[
        "model_id"
    ]
    done("evaluate", {"model_id": model_id, "view": {"dataset": "flipped"}, "chunk": CHUNK})
    done("predict", {"model_id": model_id, "view": {"dataset": "flipped"}, "chunk": CHUNK})
    done("report", {"report": "dataset", "params": {"dataset": "shapes"}})

    # What the submitter sees through the API is what the jobs made...
    assert sorted(d.name for d in bench.datasets()) == ["flipped", "shapes"]
    assert [m["id"] for m in bench.models()] == [model_id]
    assert len(bench.reports()) == 1
    # ...and no row anywhere belongs to the worker's own user.
    with bench.catalog.engine.connect() as connection:
        for table in TABLES:
            owners = set(connection.execute(text(f"SELECT DISTINCT owner FROM {table}")).scalars())
            assert owners == {bench.settings.user}, (table, owners)
        chunks = connection.execute(text("SELECT count(*) FROM jobs WHERE parent_id IS NOT NULL")).scalar()
    assert chunks and chunks > 4  # the fan-out kinds did fan out
