"""Usage of models: every prediction served, from the dashboard, a batch job or the REST API,
counted per model, person, channel and UTC day in ``model_usage`` (decision #74). Counts, not
events: one upsert per request or batch chunk, one row per (model, person, channel, day)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from workbench.catalog import Catalog
from workbench.catalog.models import Model, ModelUsage
from workbench.catalog.retry import describe, retrying

log = logging.getLogger(__name__)

CHANNELS = ("dashboard", "batch", "api")
LOW_CONFIDENCE = 0.5  # an answer whose top probability is below this is a low-confidence one


@dataclass(frozen=True)
class Usage:
    """One row of a model's usage: ``user`` asked ``predictions`` times through ``channel``."""

    day: dt.date
    user: str
    channel: str
    predictions: int
    low_confidence: int


def record(catalog: Catalog, model_id: int, channel: str, top_probabilities: Iterable[float]) -> None:
    """Count answers (each given by its top probability) as ``catalog.user``'s, today (UTC).

    A count that cannot be written is logged and dropped: the answer was served and matters
    more than its count (transient faults are tried again first)."""
    if channel not in CHANNELS:
        raise ValueError(f"a usage channel is one of {', '.join(CHANNELS)}, not {channel!r}")
    tops = list(top_probabilities)
    if not tops:
        return
    row = {
        "model_id": model_id, "owner": catalog.user, "channel": channel, "day": today(),
        "predictions": len(tops), "low_confidence": sum(p < LOW_CONFIDENCE for p in tops),
    }  # fmt: skip
    try:
        _add(catalog, row)
    except SQLAlchemyError as exc:
        log.warning("%d predictions of model %d not counted: %s", len(tops), model_id, describe(exc))


def today() -> dt.date:
    """The UTC day: the same day for everyone on a team server, whatever their time zone."""
    return dt.datetime.now(dt.UTC).date()


@retrying
def _add(catalog: Catalog, row: dict[str, Any]) -> None:
    with catalog.transaction() as session:
        insert = postgres_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = insert(ModelUsage).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["model_id", "owner", "channel", "day"],
            set_={
                "predictions": ModelUsage.predictions + statement.excluded.predictions,
                "low_confidence": ModelUsage.low_confidence + statement.excluded.low_confidence,
            },
        )
        session.execute(statement)


def usage_of(catalog: Catalog, model_id: int) -> list[Usage]:
    """A model's usage the current user may see, oldest day first: their own, and everyone's when
    the model is theirs (row-level security says the same on a team server)."""
    mine = select(Model.id).where(Model.owner == catalog.user)
    query = (
        select(ModelUsage)
        .where(
            ModelUsage.model_id == model_id,
            or_(ModelUsage.owner == catalog.user, ModelUsage.model_id.in_(mine)),
        )
        .order_by(ModelUsage.day, ModelUsage.owner, ModelUsage.channel)
    )
    with catalog.sessions() as session:
        return [
            Usage(row.day, row.owner, row.channel, row.predictions, row.low_confidence)
            for row in session.scalars(query)
        ]


def by_user_and_channel(rows: Iterable[Usage]) -> list[dict[str, Any]]:
    """Totals per (user, channel), most predictions first, with the share of low-confidence answers."""
    totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        total = totals[row.user, row.channel]
        total[0] += row.predictions
        total[1] += row.low_confidence
    found = [
        {"user": user, "channel": channel, "predictions": n, "low_confidence": low, "low_share": low / n}
        for (user, channel), (n, low) in totals.items()
    ]
    return sorted(found, key=lambda r: (-r["predictions"], r["user"], r["channel"]))


def per_day(rows: Iterable[Usage]) -> dict[dt.date, dict[str, int]]:
    """Predictions per day and channel, oldest day first."""
    days: dict[dt.date, dict[str, int]] = defaultdict(lambda: dict.fromkeys(CHANNELS, 0))
    for row in rows:
        days[row.day][row.channel] += row.predictions
    return dict(sorted(days.items()))
