"""What the job runner writes into a jobs row stays readable JSON."""

from __future__ import annotations

from workbench.jobs.runner import json_safe


def test_non_finite_numbers_are_kept_out_of_job_records() -> None:
    assert json_safe({"loss": float("nan"), "curve": [1.5, float("inf")], "n": 3}) == {
        "loss": None, "curve": [1.5, None], "n": 3,
    }  # fmt: skip
