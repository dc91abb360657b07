"""The application: settings in, FastAPI out (``workbench api`` serves it with uvicorn)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from workbench.api import Workbench
from workbench.catalog import Catalog
from workbench.config import Settings
from workbench.errors import NotFoundError
from workbench.rest import (
    browser_login,
    problems,
    routes_data,
    routes_jobs,
    routes_models,
    routes_reports,
    routes_webapp,
)
from workbench.rest.auth import Reader
from workbench.rest.metrics import RequestMetrics
from workbench.rest.recent import Recent
from workbench.tokens import Holder

# Swagger UI's files from the swagger-ui-py wheel: the docs page works with no internet (FastAPI's
# default fetches them from a CDN).
SWAGGER_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


class Predictors:
    """An ONNX session per model, made on first use and kept (a model's files never change)."""

    def __init__(self) -> None:
        self.sessions: dict[int, Any] = {}
        self.readable: Recent[Path] = Recent()

    def __call__(self, bench: Workbench, model_id: int) -> Any:
        from workbench.ml.predict import OnnxPredictor

        # Checks the caller may read it (asked again after a few seconds: an unshare takes hold).
        folder = self.readable.get((bench.catalog.user, model_id), lambda: bench.export_folder(model_id))
        if model_id not in self.sessions:
            self.sessions[model_id] = OnnxPredictor(folder)
        return self.sessions[model_id]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    login = browser_login.HubLogin.from_env()
    app = FastAPI(
        title="workbench",
        summary="Image classification: datasets, jobs, models, predictions and reports over HTTP.",
        description="Every request needs a personal token (`Authorization: Bearer wb_...`, made with "
        "`workbench tokens create`) or, behind the team server's hub, a hub login in a browser; it "
        "acts as that person. Errors are RFC 9457 problem details.",
        version="1",
        # Behind the hub the proxy passes /services/NAME/... on whole: routes match below it.
        root_path=login.prefix.rstrip("/") if login else "",
        docs_url=None,  # served below, behind a login like everything else
        openapi_url=None,
    )
    app.state.service = Catalog(settings, service=True)  # each request acts as its caller
    app.state.predictor = Predictors()
    app.state.recent_tokens = Recent[Holder]()
    problems.install(app)
    browser_login.install(app, login)
    for module in (routes_data, routes_jobs, routes_models, routes_reports, routes_webapp):
        app.include_router(module.router, responses=problems.RESPONSES)
    _add_docs(app)
    if settings.metrics_port:
        app.add_middleware(RequestMetrics)

    @app.get("/health", tags=["health"], summary="the one route without a login")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _add_docs(app: FastAPI) -> None:
    import swagger_ui

    static = Path(swagger_ui.__file__).parent / "static"

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_: Reader) -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(_: Reader) -> HTMLResponse:
        base = app.root_path
        return get_swagger_ui_html(
            openapi_url=f"{base}/openapi.json", title="workbench API",
            swagger_js_url=f"{base}/docs/files/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/docs/files/swagger-ui.css",
            swagger_favicon_url=f"{base}/docs/files/favicon-32x32.png",
        )  # fmt: skip

    @app.get("/docs/files/{name}", include_in_schema=False)
    def docs_file(name: str, _: Reader) -> FileResponse:
        if name not in SWAGGER_FILES:
            raise NotFoundError(f"the docs page's files are {', '.join(SWAGGER_FILES)}")
        return FileResponse(os.path.join(static, name))
