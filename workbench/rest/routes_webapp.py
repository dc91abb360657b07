"""A model as an offline web app, served by the API at a stable address per model
(``/v1/models/{id}/app/``: behind the hub, every person's browser reaches it through their hub
login) and downloadable as a zip. Exported on first request into the API's own folder and kept
(a model's files never change); the caller's right to the model is checked on every request."""

from __future__ import annotations

import mimetypes
import threading
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse

from workbench.api import Workbench
from workbench.errors import NotFoundError
from workbench.rest.auth import Reader

router = APIRouter(prefix="/v1", tags=["models"])
_exporting = threading.Lock()  # two first requests for one model export it once
# The browser needs these types to run the app (and some systems' tables lack them).
TYPES = {".mjs": "text/javascript", ".wasm": "application/wasm", ".webmanifest": "application/manifest+json"}


def _app_folder(bench: Workbench, model_id: int, int8: bool) -> Path:
    from workbench.web import export_web

    bench.model(model_id)  # the caller may read it (NotFoundError otherwise)
    folder = bench.settings.data_dir / "webapps" / f"{model_id}-{'int8' if int8 else 'float'}"
    with _exporting:
        if not (folder / "sw.js").exists():  # sw.js is written last: its presence means whole
            export_web(bench.catalog, model_id, folder, int8=int8)
    return folder


@router.get("/models/{model_id}/app", include_in_schema=False)
def app_root(model_id: int, request: Request, _: Reader) -> RedirectResponse:
    return RedirectResponse(
        str(request.url.path) + "/" + (f"?{request.url.query}" if request.url.query else "")
    )


@router.get(
    "/models/{model_id}/app/{name:path}",
    response_class=FileResponse,
    summary="the model's offline web app (open /app/ in a browser)",
)
def app_file(model_id: int, name: str, bench: Reader, int8: bool = False) -> FileResponse:
    folder = _app_folder(bench, model_id, int8)
    path = (folder / (name or "index.html")).resolve()
    if folder.resolve() not in path.parents or not path.is_file():
        raise NotFoundError(f"the web app has no {name!r}")
    kind = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    # The isolation headers let the app use threads; nothing it loads comes from elsewhere.
    headers = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}
    if path.name == "sw.js":
        headers["Cache-Control"] = "no-cache"  # a new export's worker is found at once
    return FileResponse(path, media_type=kind, headers=headers)


@router.get(
    "/models/{model_id}/webapp.zip",
    response_class=FileResponse,
    summary="the model's offline web app as a zip (serve the folder)",
)
def app_zip(model_id: int, bench: Reader, int8: bool = False) -> FileResponse:
    from workbench.web import zip_web

    folder = _app_folder(bench, model_id, int8)
    archive = folder.with_suffix(".zip")
    with _exporting:
        if not archive.exists():
            zip_web(folder, archive)
    return FileResponse(archive, media_type="application/zip", filename=f"model-{model_id}-webapp.zip")
