"""Live progress in Redis: written often and cheaply by workers, read by any client.

Losing Redis (down, flushed) loses only live progress: every write and read here swallows Redis
errors, and the jobs row keeps the milestones, the final state and the metrics' curve points.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis

log = logging.getLogger(__name__)
KEY_SECONDS = 7 * 24 * 3600  # live progress outlives any job, then expires by itself


def _key(job_id: str) -> str:
    return f"workbench:job:{job_id}:progress"


class ProgressChannel:
    """Progress snapshots keyed by job id in Redis, or nowhere when no Redis is configured."""

    def __init__(self, url: str) -> None:
        self._redis = (
            redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0) if url else None
        )

    @property
    def enabled(self) -> bool:
        return self._redis is not None

    def publish(self, job_id: str, snapshot: dict[str, Any]) -> None:
        if self._redis is None:
            return
        text = json.dumps(snapshot)
        try:
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(_key(job_id), text, ex=KEY_SECONDS)
            pipe.publish(_key(job_id), text)
            pipe.execute()
        except redis.RedisError as exc:
            log.debug("live progress for job %s not written: %s", job_id, exc)

    def read(self, job_id: str) -> dict[str, Any] | None:
        if self._redis is None:
            return None
        try:
            text = self._redis.get(_key(job_id))
        except redis.RedisError:
            return None
        return json.loads(text) if text else None

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
