"""A job as the dashboard shows it: named by what it does ("training on digits"), not by its id,
and, once finished, looking finished: its result in words, no Abort button, no stale progress."""

from __future__ import annotations

import html
from typing import Any

from workbench.jobs.records import ABORTED, FAILED, JobInfo
from workbench.jobs.widget import JobWidget
from workbench.widgets.current import filter_words, percent


def job_words(info: JobInfo) -> str:
    """What the job does, in a person's words."""
    params: dict[str, Any] = info.params or {}
    view = params.get("view") or {}
    data = view.get("dataset", "")
    if view.get("filter"):
        data += f" ({filter_words(view['filter'])})"
    words = {
        "ingest": f"bringing images into {params.get('name', '')!r}",
        "augment": f"augmenting {data} into {params.get('name', '')!r}",
        "train": f"training on {data}",
        "sweep": f"sweeping {_combinations(params)} trainings on {data}",
        "predict": f"predicting {data}",
        "evaluate": f"testing a model on {data}",
        "report": f"making a {params.get('report', '')} report",
    }
    return words.get(info.kind, f"{info.kind} {info.id[:12]}")


def _combinations(params: dict[str, Any]) -> int:
    return (
        len(params.get("archs") or [1])
        * len(params.get("lrs") or [1])
        * len(params.get("image_sizes") or [1])
    )


def result_words(info: JobInfo) -> str:
    """A finished job's outcome in one line."""
    if info.state == FAILED:
        return f"Failed: {info.error or info.message or 'no reason given'}"
    if info.state == ABORTED:
        return "Stopped on request; what was finished is kept."
    result: dict[str, Any] = info.result or {}
    skipped = len(result.get("skipped", []))
    found = {
        "ingest": f"{result.get('ingested', 0):,} images ingested, {skipped:,} skipped",
        "augment": f"{result.get('images', 0):,} images made",
        "train": f"test accuracy {percent(result.get('accuracy'))}",
        "predict": f"{result.get('predicted', 0):,} images predicted",
        "evaluate": f"accuracy {percent(result.get('accuracy'))} on {result.get('n', 0):,} images",
        "report": "the report is ready",
        "sweep": f"{len(result.get('models', []))} models, the best: model {result.get('best_model_id')}",
    }
    return f"Done: {found[info.kind]}." if info.kind in found else "Done."


class DashboardJob(JobWidget):
    def render(self, info: JobInfo) -> None:
        super().render(info)
        running = "" if info.finished else f" {info.progress:.0%}"
        self.title.value = (
            f"<b>{html.escape(job_words(info))}</b> — "
            f"<span class='workbench-job-state'>{info.state}</span>{running}"
        )
        if info.finished:
            self.abort_button.layout.display = "none"
            self.detail.value = f"<span class='workbench-job-result'>{html.escape(result_words(info))}</span>"
