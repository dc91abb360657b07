"""Sharing: an owner lets named users (or a team's group role) read a dataset or a model; only
the owner may change or delete it. A shared dataset is named ``owner/name`` by the people it is
shared with. On a team server the row-level policies enforce the same (migration 0006); these
queries say it in the application, so the embedded default and an administrator's login behave
alike and errors can say why (decision #68)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from workbench.catalog import Catalog
from workbench.catalog.models import Dataset, Model, Share
from workbench.catalog.shares import DATASET, MODEL
from workbench.errors import NotFoundError, WorkbenchError

__all__ = ["DATASET", "MODEL", "share", "shared_with", "unshare"]


def share(catalog: Catalog, kind: str, object_id: int, with_: Iterable[str]) -> list[str]:
    """Let each of ``with_`` read the object (which must be the user's own); returns who may now."""
    grantees = sorted({name.strip() for name in with_ if name.strip()})
    if not grantees:
        raise WorkbenchError("name at least one user (or team) to share with")
    if catalog.user in grantees:
        raise WorkbenchError("it is yours already: share it with someone else")
    with catalog.transaction() as session:
        _own(catalog, session, kind, object_id)
        known = set(
            session.scalars(select(Share.grantee).where(Share.kind == kind, Share.object_id == object_id))
        )
        session.add_all(
            Share(kind=kind, object_id=object_id, owner=catalog.user, grantee=grantee)
            for grantee in grantees
            if grantee not in known
        )
        return sorted(known | set(grantees))


def unshare(catalog: Catalog, kind: str, object_id: int, with_: Iterable[str]) -> None:
    with catalog.transaction() as session:
        _own(catalog, session, kind, object_id)
        session.execute(
            delete(Share).where(
                Share.kind == kind, Share.object_id == object_id, Share.grantee.in_(list(with_))
            )
        )


def shared_with(catalog: Catalog, kind: str, object_id: int) -> list[str]:
    with catalog.sessions() as session:
        query = select(Share.grantee).where(Share.kind == kind, Share.object_id == object_id)
        return sorted(session.scalars(query))


def _own(catalog: Catalog, session: Session, kind: str, object_id: int) -> None:
    table = Dataset if kind == DATASET else Model
    owner = session.scalar(select(table.owner).where(table.id == object_id))
    if owner != catalog.user:
        raise NotFoundError(f"no {kind} {object_id} of yours to share")
