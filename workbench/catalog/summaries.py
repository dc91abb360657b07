"""Aggregates kept on the dataset row so the questions asked most often cost one row read."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workbench.catalog.models import Dataset, Image


def refresh_label_counts(session: Session, dataset_id: int) -> dict[str, int]:
    """Recount images per label and store the counts on the dataset; returns them, largest first."""
    query = select(Image.label, func.count()).where(Image.dataset_id == dataset_id).group_by(Image.label)
    counts = most_common_first({label: n for label, n in session.execute(query)})
    session.execute(update(Dataset).where(Dataset.id == dataset_id).values(label_counts=counts))
    return counts


def most_common_first(counts: dict[str, int]) -> dict[str, int]:
    """JSONB keeps no key order, so order is restored on the way out: by count, then name."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
