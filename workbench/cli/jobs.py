"""Commands on jobs: submit (any kind), jobs, job, abort, and worker (run one here)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from workbench.api import Workbench
from workbench.cli.common import Commands, add_follow_arguments, command, follow, parse_json, print_json
from workbench.errors import ParamsError
from workbench.jobs import JobInfo
from workbench.jobs.queues import worker_pool
from workbench.jobs.records import FAILED, outcome
from workbench.kinds import load_kinds


def register(commands: Commands) -> None:
    submit = command(commands, "submit", _submit, "queue a job of any kind with JSON parameters")
    submit.add_argument("kind", help="the job kind: " + ", ".join(sorted(load_kinds())))
    submit.add_argument(
        "params", nargs="?", default="{}", help="its parameters as JSON, e.g. '{\"steps\": 3}'"
    )
    add_follow_arguments(submit)

    jobs = command(commands, "jobs", _jobs, "list your jobs, newest first")
    jobs.add_argument("--state", help="only jobs in this state (queued, running, succeeded, ...)")
    jobs.add_argument("--kind", help="only jobs of this kind (ingest, ping, ...)")
    jobs.add_argument("--json", action="store_true")

    job = command(commands, "job", _job, "show one job's state and progress")
    job.add_argument("id", help="the job id")
    job.add_argument("--wait", action="store_true", help="follow it until it ends")
    job.add_argument("--json", action="store_true")

    abort = command(commands, "abort", _abort, "ask a job to stop at its next safe point")
    abort.add_argument("id", help="the job id")
    abort.add_argument("--force", action="store_true", help="end it now, for a job that stopped checking")

    worker = command(
        commands, "worker", _worker, "run a worker here (Celery, or the local one when embedded)"
    )
    worker.add_argument("--queues", default="imagery", help="imagery, training, inference (comma-separated)")
    worker.add_argument("--concurrency", type=int, default=1, help="jobs run at once (default: 1)")
    worker.add_argument("--loglevel", default="INFO")


def _submit(workbench: Workbench, args: argparse.Namespace) -> int:
    params = parse_json(args.params, "the parameters", ParamsError)
    if not isinstance(params, dict):
        raise ParamsError(f"the parameters are a JSON object, not {type(params).__name__}")
    info = follow(workbench.submit(args.kind, params), f"{args.kind}", args)
    if info is not None:
        print_json(info.result) if args.json else print(
            f"{args.kind} job {info.id} {info.state}: {info.message}"
        )
    return 0


def _jobs(workbench: Workbench, args: argparse.Namespace) -> int:
    rows = workbench.jobs(state=args.state, kind=args.kind)
    if args.json:
        print_json([row.to_dict() for row in rows])
        return 0
    if not rows:
        print("no jobs")
    for row in rows:
        print(f"{row.id}  {row.kind:<8} {row.state:<9} {row.progress:>4.0%}  {_why(row)}")
    return 0


def _why(info: JobInfo) -> str:
    """A failed job's reason (the line a person needs), a finished one's result, else its last
    message (a finished training's last message, "evaluating and exporting", misled)."""
    if info.state == FAILED and info.error:
        return "failed: " + info.error.splitlines()[0][:160]
    return outcome(info)[:80]


def _job(workbench: Workbench, args: argparse.Namespace) -> int:
    job = workbench.job(args.id)
    info = job.wait(show_progress=not args.json and None) if args.wait else job.info()
    if args.json:
        print_json(info.to_dict())
        return 0
    print(f"{info.id}  {info.kind}  {info.state}  {info.progress:.0%}  {info.message}")
    if info.error:
        print(f"  error: {info.error}")
    if info.deliveries > 1:
        print(f"  started {info.deliveries} times (its worker was lost before)")
    return 0


def _abort(workbench: Workbench, args: argparse.Namespace) -> int:
    workbench.abort(args.id, force=args.force)
    if args.force:
        print(f"job {args.id} aborted (forced: its worker is told at its next write)")
    else:
        print(f"abort requested for job {args.id}; it stops at its next safe point")
    return 0


def _worker(workbench: Workbench, args: argparse.Namespace) -> int:
    """Run a worker in the foreground: Celery on the given queues, or the embedded local worker."""
    settings = workbench.settings
    if settings.embedded:
        from workbench.jobs.local import run_local_worker

        logging.getLogger().setLevel(logging.INFO)
        run_local_worker(settings, load_kinds(settings.job_modules))
        return 0
    queues = args.queues
    # One name per process (exec keeps the pid): two workers on one host must not both sign
    # their jobs rows "imagery@host", nor share a name on the broker.
    name = f"{queues.split(',')[0]}-{os.getpid()}@%h"
    command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queues,
               "-P", worker_pool(queues), "-c", str(args.concurrency), "-n", name,
               "--loglevel", args.loglevel]  # fmt: skip
    workbench.close()
    os.execvp(command[0], command)
