"""Every job kind there is: the modules that declare them, in one list above the domains.

Importing a module fills the registry (``workbench.jobs.kind``); ``load_kinds`` imports these and
any extra modules a deployment names in ``WORKBENCH_JOB_MODULES`` (its own job kinds, or a
test's), and every process that submits or runs jobs calls it: the Python API, the CLI, the local
worker and the Celery app, which makes one task per kind.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from typing import Any

from workbench.errors import ConfigError
from workbench.jobs.kind import JobKind, registered

KIND_MODULES = (
    "workbench.jobs.ping",  # ping: an empty job, for health checks and the job machinery's figures
    "workbench.ingest.job",  # ingest
    "workbench.derive.job",  # augment
    "workbench.training",  # train
    "workbench.sweeps",  # sweep (several trainings, compared)
    "workbench.inference",  # predict, evaluate
    "workbench.reports",  # report
)


def load_kinds(extra_modules: Iterable[str] = ()) -> Mapping[str, JobKind[Any]]:
    """Import the modules that declare job kinds; returns every kind by name."""
    for name in (*KIND_MODULES, *extra_modules):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigError(
                f"cannot import job kinds from {name!r} (WORKBENCH_JOB_MODULES): {exc}"
            ) from exc
    return registered()
