"""Out of memory as a normal state: tell the error apart, and halve a batch until it fits.

An allocation that is refused raises, and each library says so its own way: numpy a
``MemoryError``, torch on the CPU a ``RuntimeError`` ("DefaultCPUAllocator: can't allocate
memory") and on a GPU ``torch.OutOfMemoryError``, ONNX Runtime an exception of its own ("Failed
to allocate memory"). A refusal comes from an address-space limit or a request larger than the
machine; a memory cgroup's limit instead makes the kernel kill the process, which no code here
sees (``workbench.jobs.lost`` records that from the worker's parent; docs/decisions.md #83).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from workbench.errors import OutOfMemoryError, WorkbenchError

T = TypeVar("T")
R = TypeVar("R")
# How the libraries word a refused allocation, lower-cased (torch, ONNX Runtime, C++, errno 12).
OOM_WORDS = (
    "out of memory",
    "can't allocate memory",
    "cannot allocate memory",
    "failed to allocate memory",
    "unable to allocate",
    "bad_alloc",
    "bad allocation",
)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is a refused allocation (of any library here), not some other failure."""
    if isinstance(error, MemoryError):
        return True
    torch = sys.modules.get("torch")  # never imported for this: inference runs without torch
    if torch is not None and isinstance(error, torch.OutOfMemoryError):
        return True
    if isinstance(error, WorkbenchError) or not isinstance(error, Exception):
        return False
    return any(words in str(error).lower() for words in OOM_WORDS)


def one_line(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Halved:
    """One halving: the batch that ran out of memory, the one tried next, and the error."""

    batch: int
    to: int
    error: str

    def __str__(self) -> str:
        return f"ran out of memory at batch {self.batch}; went on at {self.to}"


@dataclass
class Halving:
    """A batch size that halves after each out-of-memory error, down to ``floor``, and stays
    at the size that fitted for the batches after. ``on_halve`` hears of each halving (the job
    records it) before the smaller batch is tried."""

    batch: int
    floor: int
    on_halve: Callable[[Halved], None] | None = None
    started: int = 0
    halvings: list[Halved] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.floor = max(1, min(self.floor, self.batch))
        self.started = self.started or self.batch

    def call(self, step: Callable[[int], R]) -> R:
        """``step(batch)``, again at half the batch after each out-of-memory error; raises
        OutOfMemoryError when even the floor does not fit."""
        while True:
            outcome = _refused(step, self.batch)
            if not isinstance(outcome, _Refused):
                return outcome
            if self.batch <= self.floor:
                raise OutOfMemoryError(
                    f"ran out of memory at batch {self.batch}, the smallest allowed (it started at "
                    f"{self.started}; WORKBENCH_MIN_BATCH_SIZE sets the floor): {outcome.text}. Try a "
                    "smaller image size, or a worker with more memory"
                )
            halved = Halved(self.batch, max(self.floor, self.batch // 2), outcome.text)
            self.batch = halved.to
            self.halvings.append(halved)
            if self.on_halve is not None:
                self.on_halve(halved)

    def run(self, items: Sequence[T], step: Callable[[Sequence[T]], R]) -> list[R]:
        """``step`` over ``items`` a batch at a time; a batch that runs out of memory is tried
        again in halves, and the rest goes on at the smaller size."""
        results: list[R] = []
        start = 0

        def batch_from_start(batch: int) -> tuple[int, R]:
            part = items[start : start + batch]
            return len(part), step(part)

        while start < len(items):
            done, result = self.call(batch_from_start)
            results.append(result)
            start += done
        return results

    def as_metrics(self) -> dict[str, Any]:
        """What a job's row keeps: the batch now, the one asked for, and every halving."""
        return {
            "batch": self.batch,
            "started_at": self.started,
            "halvings": [{"batch": h.batch, "to": h.to, "error": h.error} for h in self.halvings],
        }


@dataclass(frozen=True)
class _Refused:
    text: str


def _refused(step: Callable[[int], R], batch: int) -> R | _Refused:
    """``step(batch)``'s result, or the refusal it raised: returned rather than handled inside
    the ``except``, so the traceback (and the big arrays its frames hold) is gone before the
    smaller batch allocates."""
    try:
        return step(batch)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        return _Refused(one_line(exc))
