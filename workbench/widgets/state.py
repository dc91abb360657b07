"""What the panels of one dashboard share: the workbench, the chosen dataset and filter, and
counters that tell panels to refresh. Panels observe these traits instead of calling each other."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from traitlets import Dict, HasTraits, Int, Unicode

from workbench.api import Workbench
from workbench.jobs import Job
from workbench.jobs.records import JobInfo
from workbench.views import View

POLL_SECONDS = 0.5


class DashboardState(HasTraits):
    dataset = Unicode(allow_none=True, default_value=None)
    spec = Dict()
    datasets_changed = Int(0)  # bumped after an ingest
    models_changed = Int(0)  # bumped after a training, a publish or a delete

    def __init__(self, workbench: Workbench, **traits: Any) -> None:
        super().__init__(**traits)
        self.workbench = workbench

    def view(self) -> View | None:
        if not self.dataset:
            return None
        return self.workbench.dataset(self.dataset).filter(self.spec)


def follow(job: Job, on_reading: Callable[[JobInfo], None], seconds: float = POLL_SECONDS) -> None:
    """Call ``on_reading`` with every reading of ``job`` until it ends, from an asyncio task on
    the kernel's loop (widget updates from threads are not carried by ipykernel 7)."""

    async def poll() -> None:
        while True:
            info = await asyncio.to_thread(job.info)
            on_reading(info)
            if info.finished:
                return
            await asyncio.sleep(seconds)

    with contextlib.suppress(RuntimeError):  # no running loop (a plain script): nothing to follow
        asyncio.get_running_loop().create_task(poll())
