"""The embedded default's local worker process: ``python -m workbench.worker [--idle-exit]``.

It lives above the domains so that it can load every job kind; the worker loop itself is
``workbench.jobs.local``. ``workbench worker`` runs it when no broker is configured.
"""

from __future__ import annotations

import logging
import sys

from workbench.config import Settings
from workbench.jobs.local import IDLE_EXIT_SECONDS, run_local_worker
from workbench.kinds import load_kinds


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    kinds = load_kinds(settings.job_modules)
    run_local_worker(settings, kinds, idle_exit=IDLE_EXIT_SECONDS if "--idle-exit" in sys.argv else None)


if __name__ == "__main__":
    main()
