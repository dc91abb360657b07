"""Reports: make one (a job), list them, fetch one's HTML."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from workbench.rest.auth import Reader, Writer

router = APIRouter(prefix="/v1", tags=["reports"])


class ReportBody(BaseModel):
    model_config = {"json_schema_extra": {"examples": [{"kind": "model", "params": {"model_id": 1}}]}}
    kind: str = Field(description="model, dataset or comparison")
    params: dict[str, Any] = Field(default_factory=dict)


@router.post(
    "/reports", status_code=202, summary="make a report (a job): a notebook executed and saved as HTML"
)
def make(body: ReportBody, bench: Writer) -> dict[str, Any]:
    return dict(bench.report_job(body.kind, body.params).info().to_dict())


@router.get("/reports", summary="your reports, newest first")
def reports(bench: Reader, kind: str | None = None) -> list[dict[str, Any]]:
    return bench.reports(kind)


@router.get("/reports/{report_id}/html", summary="a report as its HTML page")
def html(report_id: int, bench: Reader) -> FileResponse:
    return FileResponse(bench.report_html(report_id), media_type="text/html")
