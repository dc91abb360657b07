"""Datasets as ingest and augmentation write them: hidden while a run fills them, visible when it
finishes, and undone (its rows, then the blobs nothing else uses) when it fails."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, String, any_, bindparam, delete, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from workbench.catalog import shares
from workbench.catalog.models import Dataset, DatasetKind, DatasetStatus, Image
from workbench.catalog.retry import retrying
from workbench.catalog.summaries import refresh_label_counts
from workbench.disk import release_reserve_if_low
from workbench.errors import ReadOnlyError
from workbench.pool import batched

if TYPE_CHECKING:
    from workbench.catalog import Catalog


__all__ = ["DatasetKind", "DatasetStatus", "delete_dataset", "existing_hashes", "finish", "undo"]


def finish(session: Session, dataset_id: int) -> dict[str, int]:
    """Count the labels and make the dataset visible; returns the counts, largest first."""
    labels = refresh_label_counts(session, dataset_id)
    session.execute(update(Dataset).where(Dataset.id == dataset_id).values(status=DatasetStatus.READY))
    return labels


def existing_hashes(catalog: Catalog, dataset_id: int, hashes: list[str]) -> set[str]:
    """Which of ``hashes`` the dataset holds already (a redelivered chunk skips them)."""
    if not hashes:
        return set()
    with catalog.sessions() as session:
        query = select(Image.sha256).where(Image.dataset_id == dataset_id, _one_of(session, hashes))
        return set(session.scalars(query))


def _one_of(session: Session, hashes: list[str]) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        # One array parameter: IN renders thousands of values one by one, which cost a chunk of
        # a fanned-out ingest more than the query itself.
        return Image.sha256 == any_(bindparam("hashes", hashes, type_=ARRAY(String)))
    return Image.sha256.in_(hashes)


@retrying
def undo(
    catalog: Catalog, dataset_id: int, *, whole: bool, rows: Iterable[str] = (), new_blobs: Iterable[str] = ()
) -> None:
    """Remove what one run added: the whole dataset when it created it, else its ``rows`` (by
    sha256); then those of its ``new_blobs`` that no image references any more. On a full disk
    the space reserve is given back first: deleting rows needs room in SQLite's journal too."""
    release_reserve_if_low(catalog.settings)
    with catalog.transaction() as session:
        if whole:
            session.execute(delete(Image).where(Image.dataset_id == dataset_id))
            session.execute(delete(Dataset).where(Dataset.id == dataset_id))
        else:
            for batch in batched(rows, 10_000):
                session.execute(delete(Image).where(Image.dataset_id == dataset_id, Image.sha256.in_(batch)))
    if catalog.role is not None:
        # A user's role sees only their own images: another user's image of the same bytes would
        # look unused and lose its blob. Left for a sweep by a login that sees every row.
        return
    for batch in batched(new_blobs, 10_000):
        with catalog.sessions() as session:
            still_used = set(session.scalars(select(Image.sha256).where(Image.sha256.in_(batch))))
        for sha256 in set(batch) - still_used:
            catalog.store.delete(sha256)


def delete_dataset(catalog: Catalog, name: str) -> int:
    """Delete the user's dataset ``name`` with its images (and the blobs no other image uses);
    returns how many images went. One shared with the user is refused (ReadOnlyError)."""
    with catalog.sessions() as session:
        row = catalog.find_dataset(session, name)
        if row is None and (shared := shares.shared_dataset(catalog, session, name)) is not None:
            raise ReadOnlyError.shared(f"dataset {name!r}", shared.owner)
        row = catalog.dataset_row(session, name, ready_only=False)  # NotFoundError names yours
        hashes = list(session.scalars(select(Image.sha256).where(Image.dataset_id == row.id)))
    undo(catalog, row.id, whole=True, new_blobs=hashes)
    return len(hashes)
