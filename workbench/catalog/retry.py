"""Transient database errors: a transaction is tried again, not the job it belongs to.

A connection cut (``pg_terminate_backend``, a server restart, a network blip), a serialization
failure or a deadlock go away when tried again. ``@retrying`` runs a function whose every call
is whole transactions (an insert of one chunk, one row update) again after such an error, with
backoff; the work it does must be idempotent, as every job's writes are (rows unique per key,
upserts, updates guarded by state). Any other database error is ``describe``d in one line a
person can act on, never SQL with its parameters.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

log = logging.getLogger(__name__)
ATTEMPTS = 6
FIRST_WAIT_SECONDS = 0.2  # doubling: 0.2 + 0.4 + ... + 3.2, about 6 s in all before giving up
# Postgres SQLSTATEs that go away when tried again: serialization failure, deadlock, the server
# shutting down or restarting, cannot connect now, connection failures.
TRANSIENT_STATES = {"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08004", "08006"}

P = ParamSpec("P")
R = TypeVar("R")


def is_transient(error: BaseException) -> bool:
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:  # SQLAlchemy saw the connection die
        return True
    if getattr(error.orig, "pgcode", None) in TRANSIENT_STATES:
        return True
    text = str(error.orig).lower()
    return "server closed the connection" in text or "database is locked" in text  # sqlite's busy


def retrying(function: Callable[P, R]) -> Callable[P, R]:
    """``function`` run again after a transient database error, up to ``ATTEMPTS`` times."""

    @functools.wraps(function)
    def attempt(*args: P.args, **kwargs: P.kwargs) -> R:
        wait = FIRST_WAIT_SECONDS
        for tries in range(1, ATTEMPTS + 1):
            try:
                return function(*args, **kwargs)
            except SQLAlchemyError as exc:
                if tries == ATTEMPTS or not is_transient(exc):
                    raise
                log.warning("%s: %s; trying again in %.1f s", function.__qualname__, describe(exc), wait)
                time.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")

    return attempt


def describe(error: SQLAlchemyError) -> str:
    """The database's own first line (no SQL, no parameters), for a person to act on."""
    original = getattr(error, "orig", None) or error
    first = (str(original).strip().splitlines() or [type(original).__name__])[0]
    return f"the catalog database said: {first}"
