"""Jobs: train and augment as jobs, follow any job (its row, or its progress as Server-Sent
Events), abort."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from workbench.jobs import Job
from workbench.rest.auth import Reader, Writer
from workbench.rest.routes_data import ViewBody

router = APIRouter(prefix="/v1", tags=["jobs"])
POLL_SECONDS = 0.5


class TrainBody(BaseModel):
    model_config = {
        "json_schema_extra": {"examples": [{"view": {"dataset": "digits"}, "params": {"epochs": 3}}]}
    }
    view: ViewBody
    params: dict[str, Any] = Field(
        default_factory=dict, description="as `workbench train`: epochs, image_size..."
    )


class AugmentBody(BaseModel):
    view: ViewBody
    recipe: dict[str, Any] = Field(description='ops and their parameters, e.g. {"hflip": 0.5, "rotate": 15}')
    name: str = Field(min_length=1, max_length=128, description="the new dataset's name")
    copies: int = Field(1, ge=1, le=100)


def _job(info: Any) -> dict[str, Any]:
    return dict(info.to_dict())


@router.post("/train", status_code=202, summary="train a classifier on a view (a job on a torch worker)")
def train(body: TrainBody, bench: Writer) -> dict[str, Any]:
    view = bench.view(body.view.model_dump())
    return _job(bench.train(view, **body.params).info())


@router.post("/augment", status_code=202, summary="make an augmented dataset from a view (a job)")
def augment(body: AugmentBody, bench: Writer) -> dict[str, Any]:
    view = bench.view(body.view.model_dump())
    return _job(bench.augment(view, body.recipe, copies=body.copies, name=body.name).info())


@router.get("/jobs", summary="your jobs, newest first")
def jobs(bench: Reader, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    return [_job(info) for info in bench.jobs(state=state, limit=max(1, min(limit, 1000)))]


@router.get("/jobs/{job_id}", summary="one job: state, progress, result or error")
def job(job_id: str, bench: Reader) -> dict[str, Any]:
    return _job(bench.job(job_id).info())


@router.post("/jobs/{job_id}/abort", status_code=202, summary="ask a job to stop at its next safe point")
def abort(job_id: str, bench: Writer) -> dict[str, Any]:
    bench.abort(job_id)
    return _job(bench.job(job_id).info())


def existing_job(job_id: str, bench: Reader) -> Job:
    """The job, checked before a stream starts: once it has, an error could only cut it short."""
    handle = bench.job(job_id)
    handle.info()  # NotFoundError: a 404 problem, not a broken stream
    return handle


@router.get("/jobs/{job_id}/events", response_class=EventSourceResponse, summary="a job's progress, live")
async def events(handle: Annotated[Job, Depends(existing_job)]) -> AsyncIterator[ServerSentEvent]:
    """An ``epoch`` event for each point of a curve the job records (a training's epochs: every
    one, from the row's history, however the polls fall), a ``progress`` event each time the
    reading changes, and an ``end`` event with the final reading."""
    last: dict[str, Any] | None = None
    sent = 0  # curve points sent so far
    while True:
        info = await run_in_threadpool(handle.info)
        points = info.metrics.get("curves", {}).get("epochs", [])
        for number, point in enumerate(points[sent:], sent + 1):
            yield ServerSentEvent(data={"epoch": number, **point}, event="epoch", id=f"epoch-{number}")
        sent = max(sent, len(points))
        reading = _job(info)
        if info.finished:
            yield ServerSentEvent(data=reading, event="end")
            return
        if reading != last:
            yield ServerSentEvent(data=reading, event="progress")
            last = reading
        await asyncio.sleep(POLL_SECONDS)
