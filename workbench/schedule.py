"""Reports on a schedule, from a small TOML file: Celery beat runs it in the distributed setup
(``workbench scheduler --schedule reports.toml``); a cron line runs one entry on the embedded
default (``workbench scheduler --schedule reports.toml --run NAME``).

    # reports.toml
    [[report]]
    name = "published-models"      # unique; what --run names
    kind = "model"                 # model, dataset or comparison
    published = true               # one model report per published model, found when it runs
    cron = "0 7 * * *"             # minute hour day-of-month month day-of-week (the scheduler's clock)
    keep = 30                      # reports kept per model (default: WORKBENCH_REPORT_KEEP)

    [[report]]
    name = "digits-weekly"
    kind = "dataset"
    params = { dataset = "digits", filter = { split = "test" } }
    every = 604800                 # seconds, instead of cron
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.catalog import Catalog
from workbench.config import Settings
from workbench.errors import ReportError
from workbench.registry import published_model_ids
from workbench.report_params import check_parameters
from workbench.reports import REPORTS, run_report, submit_report

KEYS = {"name", "kind", "params", "published", "cron", "every", "keep", "user"}


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    published: bool = False
    cron: str | None = None
    every: float | None = None
    keep: int | None = None
    user: str = "local"

    def to_message(self) -> dict[str, Any]:
        """What beat sends to the worker: plain JSON."""
        return asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> ScheduleEntry:
        return cls(**{k: v for k, v in data.items() if k in KEYS})


def load_schedule(path: Path, settings: Settings) -> list[ScheduleEntry]:
    """The entries of a schedule file, each checked (kind, parameter names, timing) before any runs."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read the schedule {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ReportError(f"{path} is not valid TOML: {exc}") from exc
    unknown = set(data) - {"report"}
    if unknown or not isinstance(data.get("report"), list) or not data["report"]:
        raise ReportError(
            f"{path}: a schedule is a list of [[report]] tables (found {sorted(data) or 'nothing'})"
        )
    entries = [_entry(path, i, table, settings) for i, table in enumerate(data["report"], 1)]
    names = [entry.name for entry in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ReportError(f"{path}: report names must be unique; repeated: {', '.join(duplicates)}")
    return entries


def _entry(path: Path, number: int, table: dict[str, Any], settings: Settings) -> ScheduleEntry:
    where = f"{path}, report #{number}"
    unknown = set(table) - KEYS
    if unknown:
        raise ReportError(f"{where}: unknown keys {sorted(unknown)}; known: {', '.join(sorted(KEYS))}")
    name, kind = table.get("name"), table.get("kind")
    if not isinstance(name, str) or not name.strip():
        raise ReportError(f'{where}: give it a name (name = "...")')
    if kind not in REPORTS:
        raise ReportError(f"{where} ({name}): kind must be one of {', '.join(REPORTS)}, not {kind!r}")
    params = table.get("params", {})
    check_parameters(settings.report_notebooks / REPORTS[kind].notebook, params)
    published = table.get("published", False)
    if published is not False and (published is not True or kind != "model" or "model_id" in params):
        raise ReportError(f"{where} ({name}): published = true is for model reports without a model_id")
    cron, every = table.get("cron"), table.get("every")
    if (cron is None) == (every is None):
        raise ReportError(f'{where} ({name}): give either cron = "m h dom mon dow" or every = SECONDS')
    if cron is not None:
        _crontab(cron, where)
    if every is not None and (isinstance(every, bool) or not isinstance(every, int | float) or every <= 0):
        raise ReportError(f"{where} ({name}): every is a number of seconds above 0, not {every!r}")
    keep = table.get("keep")
    if keep is not None and (isinstance(keep, bool) or not isinstance(keep, int) or keep < 1):
        raise ReportError(f"{where} ({name}): keep is a whole number of reports, at least 1")
    return ScheduleEntry(name, kind, params, published, cron, None if every is None else float(every), keep,
                         table.get("user") or settings.user)  # fmt: skip


def _crontab(expression: Any, where: str = "cron") -> Any:  # a celery crontab (celery is untyped)
    from celery.schedules import crontab

    fields = expression.split() if isinstance(expression, str) else []
    if len(fields) != 5:
        raise ReportError(f"{where}: cron is five fields, minute hour day-of-month month day-of-week; "
                          f"got {expression!r}")  # fmt: skip
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        return crontab(minute, hour, day_of_week, day_of_month, month)
    except (ValueError, TypeError) as exc:
        raise ReportError(f"{where}: cron {expression!r} is not valid: {exc}") from exc


def beat_schedule(entries: list[ScheduleEntry]) -> dict[str, dict[str, Any]]:
    """Celery beat's schedule: each entry sends the task that queues its report jobs."""
    from workbench.jobs.queues import SCHEDULED_REPORTS

    task, queue = SCHEDULED_REPORTS
    return {
        entry.name: {
            "task": task,
            "schedule": entry.every if entry.every is not None else _crontab(entry.cron),
            "args": [entry.to_message()],
            "options": {"queue": queue},
        }
        for entry in entries
    }


def targets(catalog: Catalog, entry: ScheduleEntry) -> list[dict[str, Any]]:
    """The parameters of each report an entry makes now (one per published model, or one)."""
    if not entry.published:
        return [dict(entry.params)]
    return [{**entry.params, "model_id": model_id} for model_id in published_model_ids(catalog)]


def submit_entry(settings: Settings, entry: ScheduleEntry) -> list[str]:
    """Queue the entry's report jobs as its user; returns their job ids."""
    catalog = Catalog(settings.with_overrides(user=entry.user))
    try:
        return [
            submit_report(catalog, entry.kind, params, entry.keep).id for params in targets(catalog, entry)
        ]
    finally:
        catalog.dispose()


def run_entry(catalog: Catalog, entry: ScheduleEntry) -> tuple[list[dict[str, Any]], list[str]]:
    """Make the entry's reports here, one after another; a failing one does not stop the rest.
    Returns the reports made and the failures' messages."""
    made, failed = [], []
    for params in targets(catalog, entry):
        try:
            made.append(run_report(catalog, entry.kind, params, keep=entry.keep))
        except ReportError as exc:
            failed.append(f"{entry.kind} report {params}: {exc}")
    return made, failed


def run_beat(settings: Settings, entries: list[ScheduleEntry], *, loglevel: str = "INFO") -> None:
    """Celery beat in this process, sending each entry's task on time (blocks until stopped).
    Its record of when each entry last ran is kept in the data directory."""
    from celery import Celery

    from workbench.jobs.queues import celery_config

    state = settings.data_dir / "scheduler"
    state.mkdir(parents=True, exist_ok=True)
    app = Celery("workbench-beat", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.conf.beat_schedule = beat_schedule(entries)
    app.Beat(loglevel=loglevel, schedule=str(state / "celerybeat-schedule")).run()
