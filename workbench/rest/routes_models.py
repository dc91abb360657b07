"""Models: list, read, publish, evaluate, download their files, and predict (one image answered at
once, a view as a job)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from workbench import usage
from workbench.errors import NotFoundError
from workbench.jobs import metrics
from workbench.photos import open_photo
from workbench.rest.auth import Reader, Writer
from workbench.rest.routes_data import IMAGE_BODY, ViewBody

router = APIRouter(prefix="/v1", tags=["models"])
FILES = ("model.onnx", "model.int8.onnx", "labels.json", "preprocess.json", "model.ckpt")


class ModelOnViewBody(BaseModel):
    view: ViewBody


@router.get("/models", summary="your models, then those shared with you or published")
def models(bench: Reader) -> list[dict[str, Any]]:
    return list(bench.models())


@router.get("/models/{model_id}", summary="one model: metrics, classes, what it was trained on")
def model(model_id: int, bench: Reader) -> dict[str, Any]:
    row = bench.model(model_id)
    return {
        "id": row.id, "name": row.name, "owner": row.owner, "arch": row.arch, "classes": row.classes,
        "image_size": row.image_size, "view": row.view, "metrics": row.metrics, "published": row.published,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }  # fmt: skip


@router.post("/models/{model_id}/publish", summary="mark a model of yours ready to use")
def publish(model_id: int, bench: Writer) -> dict[str, Any]:
    bench.publish(model_id)
    return {"id": model_id, "published": True}


@router.post("/models/{model_id}/unpublish", summary="withdraw a published model (nothing is deleted)")
def unpublish(model_id: int, bench: Writer) -> dict[str, Any]:
    bench.unpublish(model_id)
    return {"id": model_id, "published": False}


@router.post(
    "/models/{model_id}/evaluate", status_code=202, summary="evaluate a model of yours on a view (a job)"
)
def evaluate(model_id: int, body: ModelOnViewBody, bench: Writer) -> dict[str, Any]:
    return dict(bench.evaluate(model_id, bench.view(body.view.model_dump())).info().to_dict())


@router.post(
    "/models/{model_id}/predict-view", status_code=202, summary="predict every image of a view (a job)"
)
def predict_view(model_id: int, body: ModelOnViewBody, bench: Writer) -> dict[str, Any]:
    return dict(bench.predict(model_id, bench.view(body.view.model_dump())).info().to_dict())


@router.get(
    "/models/{model_id}/files/{name}",
    summary="a file of the model: its ONNX export (float, int8), labels, preprocessing or checkpoint",
)
def download(model_id: int, name: str, bench: Reader) -> FileResponse:
    if name not in FILES:
        raise NotFoundError(f"a model's files are {', '.join(FILES)}, not {name!r}")
    path = bench.export_folder(model_id) / name
    if not path.exists():
        raise NotFoundError(f"model {model_id} has no {name}")
    return FileResponse(path, filename=f"model-{model_id}-{name}")


@router.post(
    "/models/{model_id}/predict",
    summary="classify one image (the body), answered at once",
    openapi_extra=IMAGE_BODY,
)
async def predict(model_id: int, request: Request, bench: Reader, k: int = 5) -> dict[str, Any]:
    """The image is the request body (JPEG, PNG...), within the same size limits as ingest."""
    data = await request.body()  # one photo: bounded by the limits checked in open_photo

    def classify() -> list[tuple[str, float]]:  # one trip off the event loop: others go on meanwhile
        predictor = request.app.state.predictor(bench, model_id)
        image = open_photo(data, bench.settings.limits, "the request body")
        top: list[tuple[str, float]] = predictor.top_k(image, max(1, min(k, 20)))
        usage.record(bench.catalog, model_id, "api", [top[0][1]])  # in the thread: a write blocks
        return top

    top = await run_in_threadpool(classify)
    metrics.metrics().predictions.labels("api").inc()
    return {"model_id": model_id, "top": [{"label": label, "probability": p} for label, p in top]}
