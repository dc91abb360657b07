"""What is shared with the current user, as queries: the catalog's half of sharing
(``workbench.sharing`` shares and unshares). On a team server the row-level policies enforce
the same (migration 0006); these say it in the application, so the embedded default and an
administrator's login behave alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, or_, select, text
from sqlalchemy.orm import Session

from workbench.catalog.models import Dataset, DatasetStatus, Share

if TYPE_CHECKING:
    from workbench.catalog import Catalog

DATASET, MODEL = "dataset", "model"


def my_names(catalog: Catalog, session: Session | Connection) -> list[str]:
    """The names a share to this user may carry: theirs, and on a team server the group roles
    (a team's project) the user belongs to."""
    if catalog.role is None:
        return [catalog.user]
    groups = session.execute(
        text("SELECT rolname FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')")
    ).scalars()
    return sorted({catalog.user, *groups})


def shared_ids(catalog: Catalog, session: Session | Connection, kind: str) -> Select[Any]:
    """The ids of the ``kind`` objects shared with this user (a subquery)."""
    return select(Share.object_id).where(Share.kind == kind, Share.grantee.in_(my_names(catalog, session)))


def readable_datasets(catalog: Catalog, session: Session | Connection) -> Select[Any]:
    """The ids of the datasets this user may read: their own and those shared with them."""
    return select(Dataset.id).where(
        or_(Dataset.owner == catalog.user, Dataset.id.in_(shared_ids(catalog, session, DATASET)))
    )


def shared_dataset(catalog: Catalog, session: Session | Connection, qualified: str) -> Dataset | None:
    """``owner/name`` shared with this user (ready), or None."""
    owner, _, name = qualified.partition("/")
    if not owner or not name:
        return None
    query = select(Dataset).where(
        Dataset.owner == owner, Dataset.name == name, Dataset.status == DatasetStatus.READY,
        Dataset.id.in_(shared_ids(catalog, session, DATASET)),
    )  # fmt: skip
    return session.scalars(query).one_or_none()
