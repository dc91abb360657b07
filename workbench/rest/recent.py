"""A few seconds' memory of the catalog's answers that every request would otherwise ask again
(who holds a token, whether a person may read a model): at hundreds of requests a second those
reads are a large share of the API's work. A revoked token, or a model unshared, is refused
within ``SECONDS``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

SECONDS = 10.0
MAX_ENTRIES = 10_000  # beyond this, start again: a flood of distinct keys cannot grow it
T = TypeVar("T")


class Recent(Generic[T]):
    def __init__(self, seconds: float = SECONDS) -> None:
        self.seconds = seconds
        self.answers: dict[Hashable, tuple[float, T]] = {}
        self.lock = threading.Lock()

    def get(self, key: Hashable, ask: Callable[[], T]) -> T:
        """The answer remembered for ``key`` if fresh, else ``ask()``'s (errors are not kept)."""
        now = time.monotonic()
        with self.lock:
            kept = self.answers.get(key)
        if kept is not None and now - kept[0] < self.seconds:
            return kept[1]
        answer = ask()
        with self.lock:
            if len(self.answers) >= MAX_ENTRIES:
                self.answers.clear()
            self.answers[key] = (now, answer)
        return answer
