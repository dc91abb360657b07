"""Datasets, uploads and views: what a person brings and looks at."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from workbench.config import LABEL_LENGTH
from workbench.errors import IngestError, NotFoundError
from workbench.photos import open_photo
from workbench.rest.auth import Reader, Writer
from workbench.rest.uploads import receive
from workbench.views import ImageRecord, View, image_hashes

router = APIRouter(prefix="/v1", tags=["data"])

# The body is read as a stream, not parsed by FastAPI: the schema says what to send.
MAGIC = ((b"\xff\xd8", "image/jpeg"), (b"\x89PNG", "image/png"), (b"GIF8", "image/gif"), (b"BM", "image/bmp"))
BINARY = {"schema": {"type": "string", "format": "binary"}}
IMAGE_BODY = {"requestBody": {"content": {"image/*": BINARY}}}
ZIP_BODY = {"requestBody": {"content": {"application/octet-stream": BINARY}}}
VIEW_EXAMPLE: dict[str, Any] = {"dataset": "digits", "filter": {"label": ["3", "8"], "width__gte": 8}}


class ViewBody(BaseModel):
    """A view: a dataset (yours, or ``owner/name`` shared with you) and a filter."""

    model_config = {"json_schema_extra": {"examples": [VIEW_EXAMPLE]}}
    dataset: str = Field(min_length=1, max_length=300)
    filter: dict[str, Any] = Field(default_factory=dict)


class PageBody(ViewBody):
    cursor: int = Field(0, ge=0, le=2**63 - 1, description="the last id of the previous page (0: the first)")
    size: int = Field(100, ge=1, le=1000)


class SampleBody(ViewBody):
    n: int = Field(100, ge=1, le=10_000)
    seed: int = Field(0, ge=0, le=2**31)


def _view(bench: Any, body: ViewBody) -> View:
    return View.from_json(bench.catalog, {"dataset": body.dataset, "filter": body.filter})


def _record(record: ImageRecord) -> dict[str, Any]:
    return record._asdict()


@router.get("/datasets", summary="your datasets, then those shared with you")
def datasets(bench: Reader) -> list[dict[str, Any]]:
    return [info.to_dict() for info in bench.datasets()]


@router.delete("/datasets/{name:path}", status_code=204, summary="delete a dataset of yours with its images")
def delete_dataset(name: str, bench: Writer) -> Response:
    bench.delete_dataset(name)
    return Response(status_code=204)


@router.put(
    "/datasets/{name}/zip", status_code=202,
    summary="bring a zip of labelled images (one folder per label), streamed: the body is the zip",
    openapi_extra=ZIP_BODY,
)  # fmt: skip
async def upload_zip(
    name: str,
    request: Request,
    bench: Writer,
    append: bool = False,
    then_predict: Annotated[
        str | None,
        Query(description="once ingested, predict the dataset with this model (an id, your model's name or "
              "a published one's): the job returned stands for both steps"),
    ] = None,
) -> dict[str, Any]:  # fmt: skip
    path = await receive(request, bench.settings.data_dir / "uploads", f"{name}.zip")
    try:
        reference = await run_in_threadpool(bench.share, path)  # to the object store, for the workers
        job = await run_in_threadpool(
            lambda: bench.ingest_job(reference, name, append=append, then_predict=then_predict)
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return {"job": job.id, "dataset": name}


@router.post(
    "/datasets/{name}/images", status_code=202, openapi_extra=IMAGE_BODY,
    summary="add one photo with its label (a collector app's upload): the body is the image",
)  # fmt: skip
async def add_image(
    name: str, label: str, request: Request, bench: Writer, filename: str = "photo.jpg"
) -> dict[str, Any]:
    """Into ``name`` (made if new), as ``label``: checked as a photo here (size, format) before a
    job adds it, so a bad one is refused at once."""
    _check_label(label)
    folder = bench.settings.data_dir / "uploads" / uuid.uuid4().hex[:12]
    path = await receive(request, folder / label, filename)
    try:
        open_photo(path.read_bytes(), bench.settings.limits, name=filename)
        reference = await run_in_threadpool(bench.share, folder)
        job = await run_in_threadpool(bench.ingest_job, reference, name, append=True)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {"job": job.id, "dataset": name, "label": label}


def _check_label(label: str) -> None:
    """A label becomes a folder name for the ingest: one plain name, as in a zip."""
    if not label.strip() or label.startswith(".") or any(c in label for c in "/\\\0"):
        raise IngestError(
            f"{label!r} cannot be a label: give a plain name (no slashes, not starting with '.')"
        )
    if len(label) > LABEL_LENGTH:
        raise IngestError(f"the label is {len(label):,} characters long; the limit is {LABEL_LENGTH}")


@router.get("/images/{image_id}/{size}", summary="an image you may read: its thumbnail or its original")
def image(image_id: int, size: Literal["thumbnail", "original"], bench: Reader) -> FileResponse:
    sha256 = image_hashes(bench.catalog, [image_id]).get(image_id)
    if sha256 is None:
        raise NotFoundError(f"no image {image_id} in a dataset you may read")
    store = bench.catalog.store
    path = store.thumb_path(sha256) if size == "thumbnail" else store.blob_path(sha256)
    return FileResponse(path, media_type=_media_type(path))


def _media_type(path: Path) -> str:
    """From the bytes: a small image is its own thumbnail, and a blob keeps no file name."""
    with open(path, "rb") as handle:
        head = handle.read(12)
    for magic, media_type in MAGIC:
        if head.startswith(magic):
            return media_type
    return "image/webp" if head[8:12] == b"WEBP" else "application/octet-stream"


@router.post("/views/count", summary="how many images a view holds")
def count(body: ViewBody, bench: Reader) -> dict[str, int]:
    return {"count": _view(bench, body).count()}


@router.post("/views/labels", summary="images per label in a view, most first")
def labels(body: ViewBody, bench: Reader) -> dict[str, int]:
    return _view(bench, body).labels()


@router.post("/views/page", summary="a page of a view's images, by keyset cursor")
def page(body: PageBody, bench: Reader) -> dict[str, Any]:
    records = _view(bench, body).after(body.cursor, body.size)
    next_cursor = records[-1].id if len(records) == body.size else None
    return {"images": [_record(r) for r in records], "next_cursor": next_cursor}


@router.post("/views/sample", summary="a seeded, uniform sample of a view's images")
def sample(body: SampleBody, bench: Reader) -> list[dict[str, Any]]:
    return [_record(r) for r in _view(bench, body).sample(body.n, body.seed)]


@router.post("/views/stats", summary="class balance, sizes, formats and attributes of a view")
def stats(body: ViewBody, bench: Reader) -> dict[str, Any]:
    return _view(bench, body).stats().to_dict()
