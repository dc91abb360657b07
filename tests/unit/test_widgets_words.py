"""What the dashboard says instead of programmers' words: filters, percentages, headers, jobs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from workbench.jobs.records import JobInfo
from workbench.widgets.current import filter_words, percent
from workbench.widgets.jobs import job_words, result_words
from workbench.widgets.models import header


def info(kind: str, state: str, params: dict[str, Any], result: dict[str, Any] | None = None) -> JobInfo:
    now = dt.datetime.now(dt.UTC)
    return JobInfo(
        id="0123456789abcdef", kind=kind, state=state, progress=1.0, message="epoch 3/3", metrics={},
        params=params, result=result, error="the disk is full" if state == "failed" else None,
        abort_requested=False, deliveries=1, worker=None, created_at=now, started_at=now, finished_at=now,
    )  # fmt: skip


def test_a_filter_reads_as_words() -> None:
    spec = {"label": ["circle", "triangle"], "split": "train", "width__gte": 64, "season__exists": True}
    assert filter_words(spec) == "label in {circle, triangle}, split = train, width ≥ 64, season set"


def test_fractions_read_as_percentages_and_columns_as_words() -> None:
    assert percent(2 / 3) == "66.7 %"
    assert header("macro_f1") == "Average F1 score"
    assert header("top5_accuracy") == "Top-5 accuracy"
    assert header("val_loss") == "Val loss"


def test_a_job_is_named_by_what_it_does_and_ends_in_its_outcome() -> None:
    view = {"view": {"dataset": "shapes", "filter": {"label": ["circle"]}}}
    assert job_words(info("train", "running", view)) == "training on shapes (label in {circle})"
    done = info("train", "succeeded", view, {"model_id": 3, "accuracy": 0.8333})
    assert result_words(done) == "Done: test accuracy 83.3 %."
    assert result_words(info("ingest", "failed", {"name": "x"})) == "Failed: the disk is full"
    assert result_words(info("train", "aborted", view)).startswith("Stopped on request")
