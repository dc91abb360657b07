"""The embedded default's local worker process: ``python -m workbench.worker [--idle-exit]``.

It lives above the domains so that it can load every job kind; the worker loop itself is
``workbench.jobs.local``. ``workbench worker`` runs it when no broker is configured.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from workbench.config import Settings
from workbench.jobs.local import IDLE_EXIT_SECONDS, RELEASE_SECONDS, run_local_worker
from workbench.kinds import load_kinds


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workbench.worker", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--idle-exit", type=float, nargs="?", const=IDLE_EXIT_SECONDS, metavar="SECONDS",
        help=f"leave after this long with nothing to do (alone: {IDLE_EXIT_SECONDS} s)",
    )  # fmt: skip
    parser.add_argument(
        "--release-after", type=float, default=RELEASE_SECONDS, metavar="SECONDS",
        help="idle this long after a job that left it heavy (torch), start afresh",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    kinds = load_kinds(settings.job_modules)
    run_local_worker(settings, kinds, idle_exit=args.idle_exit, release_after=args.release_after)


if __name__ == "__main__":
    main()
