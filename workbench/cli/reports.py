"""Commands on reports: report (one kind each, from the report registry), reports, scheduler."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from workbench.api import Workbench
from workbench.cli.common import Commands, OneLineParser, command, follow, parse_json, print_json
from workbench.errors import WorkbenchError
from workbench.reports import REPORTS, describe_subject


def register(commands: Commands) -> None:
    report = command(commands, "report", _report, "make a report: a notebook executed and saved as HTML")
    common = OneLineParser(add_help=False)
    common.add_argument("--out", help="also copy the HTML and the executed notebook into this folder")
    common.add_argument("--keep", type=int, help="reports kept per kind and parameters (default: 10)")
    common.add_argument("--no-wait", action="store_true", help="queue the report as a job and return")
    common.add_argument("--json", action="store_true", help="print the report's record as JSON")
    kinds = report.add_subparsers(required=True, metavar="KIND", dest="kind", parser_class=OneLineParser)
    for kind in REPORTS.values():
        sub = kinds.add_parser(kind.alias or kind.name, parents=[common], help=kind.help)
        sub.add_argument(
            kind.subject, type=kind.subject_type, nargs="*" if kind.many else "?", help=kind.subject_help
        )
        for option in kind.json_options:
            sub.add_argument(f"--{option}", help=f'a JSON {option}, e.g. \'{{"split": "test"}}\'')
        sub.set_defaults(kind=kind.name)

    reports = command(commands, "reports", _reports, "list your reports, newest first")
    reports.add_argument("--kind", choices=list(REPORTS), help="only reports of this kind")
    reports.add_argument("--json", action="store_true")

    scheduler = command(
        commands, "scheduler", _scheduler, "make reports on a schedule (Celery beat; see README)"
    )
    scheduler.add_argument("--schedule", required=True, help="the schedule file (TOML; see README)")
    scheduler.add_argument("--run", action="append", metavar="NAME",
                           help="make this entry's reports now and exit (for cron); repeatable")  # fmt: skip
    scheduler.add_argument("--loglevel", default="INFO")


def _report(workbench: Workbench, args: argparse.Namespace) -> int:
    """Make a report: here on the embedded default, else (or with --no-wait) as a job."""
    params = _params(args)
    if workbench.settings.embedded and not args.no_wait:
        row: dict[str, Any] = workbench.report(args.kind, params, keep=args.keep)
    else:
        info = follow(workbench.report_job(args.kind, params, keep=args.keep), f"{args.kind} report", args)
        if info is None:
            return 0
        row = next(r for r in workbench.reports(args.kind) if r["id"] == (info.result or {}).get("report_id"))
    if args.out:
        row["copied_to"] = _copy_report(workbench, row["id"], Path(args.out))
    if args.json:
        print_json(row)
    else:
        print(f"{args.kind} report {row['id']}: {row.get('copied_to') or row['html_path']}")
    return 0


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """The notebook's parameters from the command line: its subject, and its JSON options."""
    kind = REPORTS[args.kind]
    subject = getattr(args, kind.subject)
    params: dict[str, Any] = {kind.subject: subject} if subject not in (None, []) else {}
    for option in kind.json_options:
        value = parse_json(getattr(args, option), f"--{option}")
        if value is not None:
            params[option] = value
    return params


def _copy_report(workbench: Workbench, report_id: int, out: Path) -> str:
    """Copy the HTML and the executed notebook into ``out``; returns the HTML's new path."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(workbench.report_notebook(report_id), out)
    html = workbench.report_html(report_id)
    shutil.copy2(html, out / html.name)
    return str(out / html.name)


def _reports(workbench: Workbench, args: argparse.Namespace) -> int:
    rows = workbench.reports(args.kind)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no reports yet: make one with `workbench report model` (or dataset, compare)")
    for row in rows:
        made = row["created_at"][:16].replace("T", " ")
        about = describe_subject(row["params"])[:40]
        print(f"{row['id']:>4} {row['kind']:<10} {made}  {about:<40} {row['html_path']}")
    return 0


def _scheduler(workbench: Workbench, args: argparse.Namespace) -> int:
    """Celery beat with a schedule file; or, with --run, one entry now (what a cron line calls)."""
    from workbench.schedule import load_schedule, run_beat, run_entry, submit_entry

    settings = workbench.settings
    entries = {entry.name: entry for entry in load_schedule(Path(args.schedule), settings)}
    if args.run:
        missing = [name for name in args.run if name not in entries]
        if missing:
            raise WorkbenchError(f"{args.schedule} has no report named {', '.join(missing)}; "
                                 f"its reports: {', '.join(entries)}")  # fmt: skip
        failures: list[str] = []
        for name in args.run:
            entry = entries[name]
            if settings.embedded:
                made, failed = run_entry(workbench.catalog, entry)
                failures += failed
                for row in made:
                    print(f"{name}: {row['kind']} report {row['id']}: {row['html_path']}")
            else:
                for job_id in submit_entry(settings, entry):
                    print(f"{name}: queued as job {job_id}")
        if failures:
            raise WorkbenchError("; ".join(failures))
        return 0
    if settings.embedded:
        raise WorkbenchError(
            "the scheduler is Celery beat and needs a broker (WORKBENCH_BROKER_URL); on the embedded "
            f"default run entries from cron: workbench scheduler --schedule {args.schedule} --run NAME"
        )
    workbench.close()
    run_beat(settings, list(entries.values()), loglevel=args.loglevel)
    return 0
