"""Errors as ``application/problem+json`` (RFC 9457): the same actionable messages the CLI gives,
with the HTTP status that says whose move it is."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from workbench.errors import (
    CatalogError,
    NotFoundError,
    ParamsError,
    ReadOnlyError,
    StorageError,
    WorkbenchError,
)
from workbench.tokens import AuthenticationError

MEDIA_TYPE = "application/problem+json"


class ScopeError(WorkbenchError):
    """A read-only token asked for a change."""


STATUS: list[tuple[type[Exception], int, str]] = [  # the first that matches
    (AuthenticationError, 401, "Not authenticated"),
    (ScopeError, 403, "Not allowed with this token"),
    (ReadOnlyError, 403, "Read-only"),
    (NotFoundError, 404, "Not found"),
    (ParamsError, 422, "Invalid parameters"),
    (CatalogError, 503, "Catalog unavailable"),
    (StorageError, 503, "Object store unavailable"),
    (WorkbenchError, 400, "Refused"),
]


class Problem(BaseModel):
    """RFC 9457 problem details: ``detail`` says what went wrong and what to do."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


# Documented on every operation, so that a client (and schemathesis) knows every answer's shape.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {MEDIA_TYPE: {}}, "description": title}
    for status, title in ((400, "Refused"), (401, "Not authenticated"), (403, "Not allowed"),
                          (404, "Not found"), (422, "Invalid request"), (503, "A service is unavailable"))
}  # fmt: skip


def problem(status: int, title: str, detail: str, **headers: str) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers or None)


def install(app: FastAPI) -> None:
    @app.exception_handler(WorkbenchError)
    async def workbench_error(_: Request, error: WorkbenchError) -> JSONResponse:
        status, title = next((s, t) for kind, s, t in STATUS if isinstance(error, kind))
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
        return problem(status, title, str(error), **headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(part) for part in e['loc'][1:]) or 'body'}: {e['msg']}" for e in error.errors()
        )
        return problem(422, "Invalid request", details)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> JSONResponse:
        return problem(error.status_code, str(error.detail), str(error.detail))
