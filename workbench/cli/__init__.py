"""The ``workbench`` command. Bad input: exit 2 and one line on stderr; ``--json`` for machines.

One module per command group, each parser beside its handlers: ``datasets`` (ingest, datasets,
show, stats, augment, demo), ``models`` (train, models, compare, export, predict, evaluate),
``jobs`` (submit, jobs, job, abort, worker), ``reports`` (report, reports, scheduler) and
``admin`` (dashboard, db, config).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from workbench.api import Workbench
from workbench.cli import admin, datasets, jobs, models, reports, team
from workbench.cli.common import OneLineParser
from workbench.errors import WorkbenchError

GROUPS = (datasets, models, jobs, reports, team, admin)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    workbench: Workbench | None = None
    try:
        workbench = Workbench()
        return int(args.handler(workbench, args))
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    finally:
        if workbench is not None:
            workbench.close()


def parser() -> OneLineParser:
    root = OneLineParser(prog="workbench", description=__doc__.splitlines()[0])
    root.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = root.add_subparsers(required=True, metavar="COMMAND", parser_class=OneLineParser)
    for group in GROUPS:
        group.register(commands)
    return root
