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
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from workbench.catalog import Catalog
from workbench.catalog.models import Report
from workbench.errors import NotFoundError, ReportError, WorkbenchError
from workbench.report_params import check_parameters
from workbench.report_run import ReportStopped, execute_notebook

if TYPE_CHECKING:
    from workbench.jobs import Job

# kind -> notebook file in settings.report_notebooks; one place to add a report.
REPORTS: dict[str, str] = {
    "model": "model_report.ipynb",
    "dataset": "dataset_report.ipynb",
    "comparison": "comparison_report.ipynb",
}
Progress = Callable[[float, str], None]


def notebook_for(catalog: Catalog, kind: str) -> Path:
    if kind not in REPORTS:
        raise ReportError(f"unknown report {kind!r}; reports: {', '.join(REPORTS)}")
    path = catalog.settings.report_notebooks / REPORTS[kind]
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
    notebook = notebook_for(catalog, kind)
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
    row = _record(catalog, kind, params, files.notebook, files.html, job_id)
    removed = prune_reports(catalog, kind, params, keep)
    say(1.0, f"report {row['id']}: {files.html}" + (f"; {removed} older removed" if removed else ""))
    return row


def report_job(ctx) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The ``report`` job kind: ``{"report": kind, "params": {...}, "keep": n}``. An abort kills
    the kernel at once (a cell cannot check for it) and keeps the partial notebook."""
    from workbench.jobs.runner import JobAborted

    unknown = set(ctx.params) - {"report", "params", "keep"}
    if unknown or "report" not in ctx.params:
        raise ReportError(f'a report job takes "report", "params" and "keep"; got {sorted(ctx.params)}')
    try:
        row = run_report(
            ctx.catalog,
            ctx.params["report"],
            ctx.params.get("params") or {},
            job_id=ctx.job_id,
            keep=ctx.params.get("keep"),
            progress=lambda fraction, message: ctx.progress(fraction, message, milestone=True),
            should_stop=ctx.should_abort,
        )
    except ReportStopped as exc:
        raise JobAborted(str(exc)) from None
    return {"report_id": row["id"], "html_path": row["html_path"], "notebook_path": row["notebook_path"]}


def submit_report(
    catalog: Catalog, kind: str, params: dict[str, Any] | None = None, keep: int | None = None
) -> Job:
    """Queue a report as a job (imagery queue); its parameters are checked before anything is queued."""
    from workbench.jobs import client

    params = check_parameters(notebook_for(catalog, kind), params or {})
    return client.submit(catalog, "report", {"report": kind, "params": params, "keep": keep})


def list_reports(catalog: Catalog, kind: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The current user's reports, newest first (the dashboard's reports panel reads this)."""
    query = select(Report).where(Report.owner == catalog.user)
    if kind is not None:
        query = query.where(Report.kind == kind)
    query = query.order_by(Report.created_at.desc(), Report.id.desc()).limit(limit)
    with catalog.sessions() as session:
        return [_as_dict(row) for row in session.scalars(query)]


def report_html_path(catalog: Catalog, report_id: int) -> Path:
    """The HTML file of one of the current user's reports (NotFoundError when gone)."""
    with catalog.sessions() as session:
        row = session.get(Report, report_id)
        if row is None or row.owner != catalog.user:
            raise NotFoundError(f"no report {report_id} for user {catalog.user!r}")
        html = Path(row.html_path or "")
    if not html.is_file():
        raise NotFoundError(f"report {report_id}'s HTML file {html} is gone; make the report again")
    return html


def reports_root(catalog: Catalog) -> Path:
    return catalog.settings.data_dir / "reports"


def prune_reports(catalog: Catalog, kind: str, params: dict[str, Any], keep: int) -> int:
    """Delete the reports of this kind and parameters beyond the newest ``keep``, with their files."""
    query = (
        select(Report)
        .where(Report.owner == catalog.user, Report.kind == kind)
        .order_by(Report.created_at.desc(), Report.id.desc())
    )
    root = reports_root(catalog).resolve()
    with catalog.transaction() as session:
        # Parameters compared here, not in SQL: JSON equality differs between SQLite and Postgres.
        same = [row for row in session.scalars(query) if (row.params or {}) == params]
        old = same[keep:]
        folders = [Path(row.html_path).parent for row in old if row.html_path]
        for row in old:
            session.delete(row)
    for folder in folders:
        if folder.resolve().is_relative_to(root):  # never delete outside the reports folder
            shutil.rmtree(folder, ignore_errors=True)
    return len(old)


def _record(
    catalog: Catalog, kind: str, params: dict[str, Any], notebook: Path, html: Path, job_id: str | None
) -> dict[str, Any]:
    with catalog.transaction() as session:
        row = Report(
            owner=catalog.user, kind=kind, params=params, notebook_path=str(notebook), html_path=str(html),
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
