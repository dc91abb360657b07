"""The application: settings in, FastAPI out (``workbench api`` serves it with uvicorn)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from workbench.api import Workbench
from workbench.catalog import Catalog
from workbench.config import Settings
from workbench.rest import problems, routes_data, routes_jobs, routes_models, routes_reports


class Predictors:
    """An ONNX session per model, made on first use and kept (a model's files never change)."""

    def __init__(self) -> None:
        self.sessions: dict[int, Any] = {}

    def __call__(self, bench: Workbench, model_id: int) -> Any:
        from workbench.ml.predict import OnnxPredictor

        folder = bench.export_folder(model_id)  # checks the caller may read it, every time
        if model_id not in self.sessions:
            self.sessions[model_id] = OnnxPredictor(folder)
        return self.sessions[model_id]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="workbench",
        summary="Image classification: datasets, jobs, models, predictions and reports over HTTP.",
        description="Every request needs a personal token (`Authorization: Bearer wb_...`, made with "
        "`workbench tokens create`) and acts as its owner. Errors are RFC 9457 problem details.",
        version="1",
    )
    app.state.service = Catalog(settings, service=True)  # each request acts as its token's owner
    app.state.predictor = Predictors()
    problems.install(app)
    for module in (routes_data, routes_jobs, routes_models, routes_reports):
        app.include_router(module.router, responses=problems.RESPONSES)

    @app.get("/health", tags=["health"], summary="the one route without a login")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
