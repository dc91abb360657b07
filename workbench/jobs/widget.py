"""A job as a live notebook widget: progress bar, state, message and an abort button.

It follows the job from an asyncio task on the kernel's own event loop (``follow``), never from a
thread (ipykernel 7 no longer carries widget updates made from other threads). It needs nothing
from the kernel that submitted the job: ``bench.job(id)`` in a new kernel shows the same widget.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
from collections.abc import Callable

import ipywidgets as widgets

from workbench.jobs.client import Job
from workbench.jobs.records import ABORTED, FAILED, SUCCEEDED, JobInfo, outcome

POLL_SECONDS = 0.25
_BAR_STYLE = {SUCCEEDED: "success", FAILED: "danger", ABORTED: "warning"}


class JobWidget(widgets.VBox):
    def __init__(self, job: Job) -> None:
        self.job = job
        self.title = widgets.HTML()
        self.bar = widgets.FloatProgress(min=0.0, max=1.0, layout=widgets.Layout(width="100%"))
        self.detail = widgets.HTML()
        self.abort_button = widgets.Button(description="Abort", button_style="warning", icon="stop")
        self.abort_button.on_click(lambda _: self._abort())
        super().__init__(
            [self.title, widgets.HBox([self.bar, self.abort_button]), self.detail],
            layout=widgets.Layout(width="100%"),
        )
        self.render(job.info())
        follow(job, self.render, POLL_SECONDS)
        self._refresh_after_each_cell()

    def render(self, info: JobInfo) -> None:
        """Show one reading of the job (also what tests call to check the display)."""
        self.reading = info
        self.title.value = (
            f"<b>{html.escape(info.kind)}</b> <code>{info.id[:12]}</code> — "
            f"<span class='workbench-job-state'>{info.state}</span> {info.progress:.0%}"
        )
        if info.steps:  # a chain: where each step is
            steps = " → ".join(f"{step.kind} <code>{step.id[:12]}</code> {step.state}" for step in info.steps)
            self.title.value += f"<br><span class='workbench-job-steps'>{steps}</span>"
        self.bar.value = info.progress
        self.bar.bar_style = _BAR_STYLE.get(info.state, "info")
        self.detail.value = f"<span style='white-space:pre-wrap'>{html.escape(outcome(info))}</span>"
        self.abort_button.disabled = info.finished or info.abort_requested
        if info.finished:  # nothing left to abort: the button goes, the result stays
            self.abort_button.layout.display = "none"

    def _repr_mimebundle_(self, **kwargs: object) -> dict[str, object]:
        """The live widget, and beside it a static card for whatever shows no widgets (an
        executed notebook's HTML without widget state, GitHub's viewer)."""
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/html"] = self.reading._repr_html_()
        bundle["text/plain"] = repr(self.reading)
        return bundle

    def _refresh_after_each_cell(self) -> None:
        """Read the job again at the end of every cell until it has finished. ``follow`` updates
        the widget from a background task, whose messages belong to the cell that showed it:
        papermill and nbconvert record only the running cell's, so an executed notebook kept the
        job "running 0%" for ever. A reading taken in a later cell (``job.wait()``'s) is kept."""
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:  # a plain script: no cells
            return

        def refresh(*_: object) -> None:
            info = self.job.info()
            self.render(info)
            if info.finished:
                shell.events.unregister("post_run_cell", refresh)

        shell.events.register("post_run_cell", refresh)

    def _abort(self) -> None:
        self.abort_button.disabled = True
        self.abort_button.description = "Aborting…"
        self.job.abort()


def follow(job: Job, on_reading: Callable[[JobInfo], None], interval: float = 0.5) -> None:
    """Call ``on_reading`` with each reading of ``Job.watch`` until the job ends, from an asyncio
    task on the kernel's loop (each reading is taken in a thread: the query must not block the
    kernel). Without a running loop (a plain script) there is nothing to follow."""

    async def run() -> None:
        readings = job.watch(interval)
        while (info := await asyncio.to_thread(next, readings, None)) is not None:
            on_reading(info)

    with contextlib.suppress(RuntimeError):
        _running.add(task := asyncio.get_running_loop().create_task(run()))
        task.add_done_callback(_running.discard)


_running: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
