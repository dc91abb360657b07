"""The REST API's requests as Prometheus metrics (by route template, not path: ids would make a
series per object), when ``WORKBENCH_METRICS_PORT`` is set; served apart from the API, with a
login (workbench.jobs.metrics)."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workbench.jobs import metrics


class RequestMetrics:
    """Plain ASGI, not BaseHTTPMiddleware: nothing added to a streamed upload or an SSE stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", "unmatched")
            metrics.metrics().api_requests.labels(name, str(status)).inc()
            metrics.metrics().api_seconds.labels(name).observe(time.perf_counter() - began)
