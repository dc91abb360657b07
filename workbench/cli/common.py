"""What every command group shares: the one-line parser, declaring a command, following a job,
reading a view from ``NAME --filter JSON``, and printing JSON."""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from workbench.api import Workbench
from workbench.errors import FilterError, WorkbenchError
from workbench.jobs import Job, JobInfo
from workbench.views import View

Handler = Callable[[Workbench, argparse.Namespace], int]
Commands: TypeAlias = "argparse._SubParsersAction[OneLineParser]"


class OneLineParser(argparse.ArgumentParser):
    """Bad arguments, like any bad input: exit 2 and one line on stderr, naming where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"workbench: error: {did_you_mean(message)} (see: {self.prog} --help)\n")


def did_you_mean(message: str) -> str:
    """argparse's "invalid choice: 'trian' (choose from ...)" with the likely one named first."""
    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not found:
        return message
    choices = re.findall(r"'([^']*)'", found.group(2))
    close = difflib.get_close_matches(found.group(1), choices, n=1)
    if not close:
        return message
    return f"{message[: found.start()]}invalid choice {found.group(1)!r}: did you mean {close[0]!r}?"


def command(commands: Commands, name: str, handler: Handler, help: str) -> OneLineParser:
    sub = commands.add_parser(name, help=help, description=help)
    sub.set_defaults(handler=handler)
    return sub


def add_view_arguments(sub: argparse.ArgumentParser, filter_help: str = "a JSON filter") -> None:
    sub.add_argument("name", help="the dataset")
    sub.add_argument(
        "--filter",
        help=filter_help + ', e.g. \'{"label": ["3", "8"], "width__gte": 8}\', or a .json file holding one',
    )


def view_of(workbench: Workbench, args: argparse.Namespace) -> View:
    """The view ``args.name`` filtered by ``args.filter`` (JSON, or a .json file of it: a long
    list of values does not fit on a command line)."""
    text = args.filter
    if text and text.endswith(".json"):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise FilterError(f"cannot read the --filter file {args.filter}: {exc}") from exc
    return workbench.dataset(args.name).filter(parse_json(text, "--filter", FilterError) or {})


def parse_json(text: str | None, flag: str, error: type[WorkbenchError] = WorkbenchError) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{flag} is not valid JSON: {exc}") from exc


def add_follow_arguments(sub: argparse.ArgumentParser, what: str = "the job") -> None:
    sub.add_argument("--no-wait", action="store_true", help=f"queue {what} and return")
    sub.add_argument("--json", action="store_true", help="print the result as JSON")


def follow(job: Job, what: str, args: argparse.Namespace) -> JobInfo | None:
    """With --no-wait, print the job's id and return None; else wait (a progress bar on a
    terminal) and return how it ended, raising when it did not succeed."""
    if args.no_wait:
        print_json({"job": job.id}) if args.json else print(f"{what} queued as job {job.id}")
        return None
    info = job.wait(show_progress=not args.json and None)
    if info.state != "succeeded":
        raise WorkbenchError(f"{what} job {job.id} {info.state}: {info.error or info.message}")
    return info


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")
