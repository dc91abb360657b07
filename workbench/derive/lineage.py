"""Lineage of derived datasets: which augmented datasets come from a dataset, and their copies of
chosen source images (what training adds to a view's training split)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select

from workbench.catalog import Catalog, Dataset, Image
from workbench.catalog.models import DatasetKind, DatasetStatus
from workbench.errors import AugmentError
from workbench.views import ImageRecord


def augmented_children(catalog: Catalog, dataset_id: int, wanted: Any) -> list[tuple[int, str]]:
    """(id, name) of the ready augmented datasets made from ``dataset_id``: all of them for
    ``True``, else the ones named in ``wanted``; an unknown name lists the valid ones."""
    query = (
        select(Dataset.id, Dataset.name)
        .where(Dataset.owner == catalog.user, Dataset.parent_id == dataset_id)
        .where(Dataset.kind == DatasetKind.AUGMENTED, Dataset.status == DatasetStatus.READY)
        .order_by(Dataset.name)
    )
    with catalog.sessions() as session:
        children = [(row.id, row.name) for row in session.execute(query)]
    names = [name for _, name in children]
    if wanted is True:
        if not children:
            raise AugmentError(
                "this dataset has no augmented datasets yet: make one (`workbench augment`, bench.augment)"
            )
        return children
    if isinstance(wanted, str):
        wanted = [wanted]
    if not isinstance(wanted, list) or not all(isinstance(name, str) for name in wanted):
        raise AugmentError(f"augmented takes true or a list of dataset names; got {wanted!r}")
    unknown = [name for name in wanted if name not in names]
    if unknown:
        valid = ", ".join(names) or "none yet"
        raise AugmentError(f"{unknown[0]!r} is not an augmented dataset of this one; those are: {valid}")
    return [child for child in children if child[1] in wanted]


def copies_of(catalog: Catalog, dataset_ids: list[int], sources: Collection[int]) -> list[ImageRecord]:
    """The images of ``dataset_ids`` made from any of ``sources``, in id order."""
    columns = [getattr(Image, name) for name in ImageRecord._fields]
    query = (
        select(*columns, Image.source_image_id).where(Image.dataset_id.in_(dataset_ids)).order_by(Image.id)
    )
    wanted = set(sources)
    with catalog.connect() as connection:
        return [ImageRecord._make(row[:-1]) for row in connection.execute(query) if row[-1] in wanted]
