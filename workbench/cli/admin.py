"""Commands that run or look after the installation: dashboard, db, config."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy.engine import make_url

from workbench.api import Workbench
from workbench.cli.common import Commands, command, print_json
from workbench.config import VARIABLES, Variable


def register(commands: Commands) -> None:
    dashboard = command(commands, "dashboard", _dashboard, "serve the dashboard (Voila) on this machine")
    dashboard.add_argument("--port", type=int, default=8866)
    dashboard.add_argument("--no-browser", action="store_true", help="do not open a browser")
    dashboard.add_argument("--no-preheat", action="store_true", help="start a kernel per page instead")

    api = command(commands, "api", _api, "serve the REST API (FastAPI on uvicorn) on this machine")
    api.add_argument("--host", default="127.0.0.1")
    api.add_argument("--port", type=int, default=8080)

    command(commands, "hub", _hub, "serve the team server: JupyterHub, logins, a server per person (root)")

    database = command(commands, "db", _db, "manage the catalog database schema")
    database.add_argument(
        "action", choices=["upgrade", "current", "sql"],
        help="upgrade: migrate to the newest schema; current: show the revision; "
        "sql: print the Postgres schema for a fresh database",
    )  # fmt: skip

    config = command(
        commands, "config", _config, "the effective settings: each variable, its value, its meaning"
    )
    config.add_argument("--json", action="store_true")


def _dashboard(workbench: Workbench, args: argparse.Namespace) -> int:
    """Voila serving notebooks/dashboard.ipynb on 127.0.0.1 until stopped (SIGINT, SIGTERM, SIGHUP)."""
    from workbench.widgets.serve import prepare_root, run, voila_command

    root = prepare_root(workbench.settings)
    command = voila_command(
        root, port=args.port, open_browser=not args.no_browser, preheat=not args.no_preheat
    )
    print(f"dashboard on http://127.0.0.1:{args.port}/ (Ctrl-C stops it; log in {root / 'dashboard.log'})")
    sys.stdout.flush()  # before Voila's own output, when both go to one file
    return run(command, root)  # Voila and its kernels stop with this command


def _api(workbench: Workbench, args: argparse.Namespace) -> int:
    """uvicorn serving the REST API until stopped; OpenAPI at /openapi.json, Swagger UI at /docs."""
    import uvicorn

    from workbench.jobs import metrics
    from workbench.rest.app import create_app

    metrics.serve(workbench.settings)  # when WORKBENCH_METRICS_PORT is set
    print(f"REST API on http://{args.host}:{args.port}/ (OpenAPI at /docs; Ctrl-C stops it)")
    sys.stdout.flush()
    uvicorn.run(create_app(workbench.settings), host=args.host, port=args.port, log_level="warning")
    return 0


def _hub(workbench: Workbench, args: argparse.Namespace) -> int:
    """JupyterHub until stopped, configured from WORKBENCH_HUB_* (docs/security.md, team server)."""
    import os

    from workbench.hub.run import hub_command
    from workbench.hub.settings import HubSettings
    from workbench.widgets.serve import run

    hub = HubSettings.from_env()
    command = hub_command(hub)
    os.environ.update(hub.environ())  # read back by the configuration file, in JupyterHub
    print(
        f"team server on http://{hub.ip}:{hub.port}/ (sign up, then {hub.admin!r} approves; Ctrl-C stops it)"
    )
    sys.stdout.flush()
    return run(command, hub.state_dir)


def _db(workbench: Workbench, args: argparse.Namespace) -> int:
    from workbench.catalog import db

    if args.action == "sql":
        sys.stdout.write(db.postgres_schema_sql())
        return 0
    engine = db.make_engine(workbench.settings.catalog_url)
    if args.action == "upgrade":
        before, after = db.upgrade(engine)
        print(f"catalog schema at {after}" + (" (was empty)" if before is None else f" (was {before})"))
    else:
        print(f"catalog schema at {db.current_revision(engine)}; newest is {db.head_revision()}")
    engine.dispose()
    return 0


def _config(workbench: Workbench, args: argparse.Namespace) -> int:
    """Every variable workbench reads, with the value in effect here (passwords masked)."""
    settings = workbench.settings
    rows = [
        {"variable": v.name, "value": _shown(v, v.render(settings.value_of(v))), "help": v.help}
        for v in VARIABLES
    ]
    if args.json:
        print_json(rows)
        return 0
    width = max(len(row["variable"]) for row in rows)
    for row in rows:
        print(f"{row['variable']:<{width}}  {row['value'] or '(empty)'}\n{'':<{width}}  {row['help']}")
    return 0


def _shown(variable: Variable, value: str) -> str:
    if variable.secret and value:
        return make_url(value).render_as_string(hide_password=True) if "://" in value else "***"
    return value
