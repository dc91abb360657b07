"""Reports: a parametrized notebook executed by papermill, kept as the executed notebook and as
self-contained HTML, recorded in the ``reports`` table.

    from workbench.reports import run_report, submit_report, list_reports
    run_report(catalog, "model", {"model_id": 3})       # here and now (the embedded default)
    submit_report(catalog, "dataset", {"dataset": "digits"}).wait()   # a job on the imagery queue

A report reads like the five steps it takes: check the parameters against the ones the notebook
declares, execute it in a fresh kernel, render HTML without code, record a row, delete the
reports beyond the kept count. The notebooks are in ``settings.report_notebooks``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select

from workbench import registry
from workbench.catalog import Catalog
from workbench.catalog.models import Report
from workbench.config import Settings
from workbench.errors import ConfigError, NotFoundError, ReportError, WorkbenchError
from workbench.jobs.client import Job, submit
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.records import JobAborted
from workbench.jobs.runner import JobContext
from workbench.report_params import check_parameters
from workbench.report_run import ReportStopped, execute_notebook
from workbench.views import View
from workbench.views.spec import describe_filter


@dataclass(frozen=True)
class ReportKind:
    """One kind of report: its notebook in ``settings.report_notebooks``, what it shows, and its
    subject, the parameter a person names first (the CLI's positional argument)."""

    name: str
    notebook: str
    help: str
    subject: str
    subject_help: str
    subject_type: type = str
    many: bool = False  # the subject is a list (model_ids)
    alias: str | None = None  # the CLI's word for it, where it differs
    json_options: tuple[str, ...] = ()  # further parameters given as JSON (--filter)


REPORTS: dict[str, ReportKind] = {
    kind.name: kind
    for kind in (
        ReportKind("model", "model_report.ipynb", "metrics, curves, confusion, mistakes, lineage of a model",
                   subject="model_id", subject_help="the model id (default: the newest)", subject_type=int),
        ReportKind("dataset", "dataset_report.ipynb", "balance, sizes, attributes, samples, duplicates",
                   subject="dataset", subject_help="the dataset (default: the newest)",
                   json_options=("filter",)),
        ReportKind("comparison", "comparison_report.ipynb", "models side by side", subject="model_ids",
                   subject_help="model ids (default: the five newest)", subject_type=int, many=True,
                   alias="compare"),
        ReportKind("operations", "operations_report.ipynb",
                   "workers, queues, jobs, waits and failures, from Prometheus (operators)",
                   subject="window", subject_help="how far back: 30m, 6h, 7d (default 24h)"),
    )
}  # fmt: skip
Progress = Callable[[float, str], None]


def notebook_for(settings: Settings, kind: str) -> Path:
    if kind not in REPORTS:
        raise ReportError(f"unknown report {kind!r}; reports: {', '.join(REPORTS)}")
    path = settings.report_notebooks / REPORTS[kind].notebook
    if not path.is_file():
        raise ReportError(
            f"the {kind} report's notebook {path} is missing: set WORKBENCH_REPORT_NOTEBOOKS to the "
            "folder holding notebooks/reports"
        )
    return path


def run_report(
    catalog: Catalog,
    kind: str,
    params: dict[str, Any] | None = None,
    *,
    job_id: str | None = None,
    keep: int | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Make one report here (a kernel of its own) and return its row as a dict. When
    ``should_stop()`` turns true the kernel is killed and ReportStopped raised."""
    notebook = notebook_for(catalog.settings, kind)
    params = check_parameters(notebook, params or {})
    keep = catalog.settings.report_keep if keep is None else keep
    if keep < 1:
        raise ReportError(f"keep must be at least 1 (the report just made), got {keep}")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out_dir = reports_root(catalog) / kind / f"{stamp}-{(job_id or uuid.uuid4().hex)[:12]}"
    say = progress or (lambda fraction, message: None)
    say(0.0, f"executing {notebook.name}")
    try:
        files = execute_notebook(
            notebook, params, out_dir, env=catalog.settings.environ(), progress=say, should_stop=should_stop
        )
    except ReportStopped:
        raise
    except WorkbenchError as exc:
        raise ReportError(f"the {kind} report failed: {exc}") from exc
    for path in sorted(out_dir.rglob("*")):  # readable from every host, not only this one
        if path.is_file():
            catalog.store.publish(path)
    row = _record(catalog, kind, params, files.notebook, files.html, job_id)
    removed = prune_reports(catalog, kind, params, keep)
    say(1.0, f"report {row['id']}: {files.html}" + (f"; {removed} older removed" if removed else ""))
    return row


def check_subject(catalog: Catalog, kind: str, params: dict[str, Any]) -> None:
    """The model(s) or dataset a report names exist: asked before a kernel starts, so a typo costs
    a second and an answer naming what there is (NotFoundError), not a kernel and a traceback.
    "The newest" (no subject) and anything else are the notebook's to judge."""
    if kind == "model" and _is_id(params.get("model_id")):
        registry.get_model(catalog, params["model_id"])
    elif kind == "comparison" and isinstance(ids := params.get("model_ids"), list):
        for model_id in filter(_is_id, ids):
            registry.get_model(catalog, model_id)
    elif kind == "dataset" and isinstance(params.get("dataset"), str):
        View(catalog, params["dataset"])  # its filter is checked in the notebook, against the data
    elif kind == "operations" and not catalog.settings.prometheus_url:
        raise ConfigError(
            "the operations report reads Prometheus: set WORKBENCH_PROMETHEUS_URL, e.g. "
            "http://workbench:PASSWORD@127.0.0.1:9090 (docker/prometheus/ has its configuration)"
        )


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def describe_subject(params: dict[str, Any]) -> str:
    """What a report is about, in words: "model 3", "dataset digits, split = test"."""
    if (model_ids := params.get("model_ids")) is not None:
        return "models " + ", ".join(map(str, model_ids))
    if params.get("model_id") is not None:
        return f"model {params['model_id']}"
    if params.get("dataset") is not None:
        rules = describe_filter(params.get("filter") or {})
        return f"dataset {params['dataset']}" + (f", {rules}" if rules else "")
    return "the newest" if not params else json.dumps(params, ensure_ascii=False)


class ReportParams(JobParams):
    report: str = Field(description="the kind of report: " + ", ".join(REPORTS))
    params: dict[str, Any] = Field(default_factory=dict, description="the notebook's parameters")
    keep: int | None = Field(None, ge=1, description="reports kept per kind and parameters")

    @field_validator("report")
    @classmethod
    def _known(cls, report: str) -> str:
        if report not in REPORTS:
            raise ValueError(f"unknown report {report!r}; reports: {', '.join(REPORTS)}")
        return report

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        try:  # only the names the notebook declares, and JSON values (workbench.report_params)
            check_parameters(notebook_for(catalog.settings, self.report), self.params)
        except ReportError as exc:
            raise ValueError(str(exc)) from None
        check_subject(catalog, self.report, self.params)  # NotFoundError: says what there is


@job_kind("report", queue="imagery", params=ReportParams, error=ReportError)
def report_job(ctx: JobContext[ReportParams]) -> dict[str, Any]:
    """A report notebook executed by papermill, kept as HTML. On the imagery queue: CPU, Pillow
    and matplotlib, minutes at most, never behind hours of training. An abort kills the kernel
    at once (a cell cannot check for it) and keeps the partial notebook."""
    p = ctx.params
    try:
        row = run_report(
            ctx.catalog, p.report, p.params, job_id=ctx.job_id, keep=p.keep,
            progress=lambda fraction, message: ctx.progress(fraction, message, milestone=True),
            should_stop=ctx.should_abort,
        )  # fmt: skip
    except ReportStopped as exc:
        raise JobAborted(str(exc)) from None
    return {"report_id": row["id"], "html_path": row["html_path"], "notebook_path": row["notebook_path"]}


def submit_report(
    catalog: Catalog, kind: str, params: dict[str, Any] | None = None, keep: int | None = None
) -> Job:
    """Queue a report as a job (imagery queue); its parameters are checked before anything is queued."""
    return submit(catalog, "report", {"report": kind, "params": params or {}, "keep": keep})


def list_reports(catalog: Catalog, kind: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The current user's reports, newest first (the dashboard's reports panel reads this)."""
    query = select(Report).where(Report.owner == catalog.user)
    if kind is not None:
        query = query.where(Report.kind == kind)
    query = query.order_by(Report.created_at.desc(), Report.id.desc()).limit(limit)
    with catalog.sessions() as session:
        return [_as_dict(row) for row in session.scalars(query)]


def get_report(catalog: Catalog, report_id: int) -> dict[str, Any]:
    """One of the current user's reports, as ``list_reports`` shows it."""
    with catalog.sessions() as session:
        row = session.get(Report, report_id)
        if row is None or row.owner != catalog.user:
            raise NotFoundError(f"no report {report_id} for user {catalog.user!r}")
        return _as_dict(row)


def report_html_path(catalog: Catalog, report_id: int) -> Path:
    """The HTML file of one of the current user's reports, on this host (fetched from the object
    store when another host made it); NotFoundError when gone."""
    return report_file(catalog, report_id, "html_path")


def report_file(catalog: Catalog, report_id: int, which: str) -> Path:
    """``html_path`` or ``notebook_path`` of a report as a local file."""
    with catalog.sessions() as session:
        row = session.get(Report, report_id)
        if row is None or row.owner != catalog.user:
            raise NotFoundError(f"no report {report_id} for user {catalog.user!r}")
        reference = getattr(row, which) or ""
    path = catalog.store.fetch(reference) if reference else Path()
    if not path.is_file():
        raise NotFoundError(f"report {report_id}'s file {reference} is gone; make the report again")
    return path


def reports_root(catalog: Catalog) -> Path:
    return catalog.settings.data_dir / "reports"


def prune_reports(catalog: Catalog, kind: str, params: dict[str, Any], keep: int) -> int:
    """Delete the reports of this kind and parameters beyond the newest ``keep``, with their files."""
    query = (
        select(Report)
        .where(Report.owner == catalog.user, Report.kind == kind)
        .order_by(Report.created_at.desc(), Report.id.desc())
    )
    root = catalog.store.reference(reports_root(catalog)) + "/"
    with catalog.transaction() as session:
        # Parameters compared here, not in SQL: JSON equality differs between SQLite and Postgres.
        same = [row for row in session.scalars(query) if (row.params or {}) == params]
        old = same[keep:]
        folders = [row.html_path.rsplit("/", 1)[0] for row in old if row.html_path]
        for row in old:
            session.delete(row)
    for folder in folders:
        if folder.startswith(root) and ".." not in folder:  # never delete outside the reports folder
            catalog.store.discard(folder)
    return len(old)


def _record(
    catalog: Catalog, kind: str, params: dict[str, Any], notebook: Path, html: Path, job_id: str | None
) -> dict[str, Any]:
    with catalog.transaction() as session:
        row = Report(
            owner=catalog.user, kind=kind, params=params, notebook_path=catalog.store.reference(notebook),
            html_path=catalog.store.reference(html),
            job_id=job_id,
        )  # fmt: skip
        session.add(row)
        session.flush()
        session.refresh(row)
        return _as_dict(row)


def _as_dict(row: Report) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "params": dict(row.params or {}),
        "html_path": row.html_path,
        "notebook_path": row.notebook_path,
        "job_id": row.job_id,
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }
