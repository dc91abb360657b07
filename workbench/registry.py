"""The model registry: the current user's models, what each was trained on and how well it does.

    from workbench import registry
    registry.list_models(catalog); registry.get_model(catalog, 3); registry.find_model(catalog, "digits")
    registry.publish(catalog, 3); registry.unpublish(catalog, 3); registry.delete_model(catalog, 3)
    registry.compare_models(catalog, [3, 4]); registry.newest_model_ids(catalog, 5)

Training writes the rows (``workbench.training``); everything else reads them through here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from workbench.catalog import Catalog, Dataset, Image, shares
from workbench.catalog.models import Model
from workbench.catalog.shares import MODEL
from workbench.errors import NotFoundError, ReadOnlyError
from workbench.pool import batched


def list_models(catalog: Catalog) -> list[dict[str, Any]]:
    """The user's models, oldest first, with their headline metrics, then the models others
    shared with the user or published (``owner`` says whose)."""
    with catalog.sessions() as session:
        rows = session.scalars(select(Model).where(_readable(catalog, session)).order_by(Model.id)).all()
        own = [summary(row) for row in rows if row.owner == catalog.user]
        return own + [{**summary(row), "owner": row.owner} for row in rows if row.owner != catalog.user]


def _readable(catalog: Catalog, session: Session) -> ColumnElement[bool]:
    return or_(
        Model.owner == catalog.user, Model.published, Model.id.in_(shares.shared_ids(catalog, session, MODEL))
    )


def get_model(catalog: Catalog, model_id: int, *, to_change: bool = False) -> Model:
    """One model's row (detached: safe to read after the session), or NotFoundError: the user's
    own, or one shared with them or published, which ``to_change`` refuses (ReadOnlyError)."""
    if not 0 < model_id < 2**63:  # ids are 64-bit: a larger one cannot even be bound on SQLite
        raise NotFoundError(f"no model {model_id} for user {catalog.user!r}: model ids run from 1 to 2**63-1")
    with catalog.sessions() as session:
        row = session.scalars(
            select(Model).where(Model.id == model_id, _readable(catalog, session))
        ).one_or_none()
        if row is None:
            raise NotFoundError(
                f"no model {model_id} for user {catalog.user!r}; {_models_there_are(session, catalog)}"
            )
        if to_change and row.owner != catalog.user:
            raise ReadOnlyError.shared(f"model {model_id} ({row.name})", row.owner)
        session.expunge(row)
        return row


def find_model(catalog: Catalog, ref: int | str) -> Model:
    """A model by id, or by name: the user's own newest of that name, else the newest published
    one (NotFoundError names the user's models)."""
    if isinstance(ref, int) or ref.isdigit():
        return get_model(catalog, int(ref))
    with catalog.sessions() as session:
        query = select(Model).where(Model.name == ref, or_(Model.owner == catalog.user, Model.published))
        # Own models first (False sorts first), then the newest.
        row = session.scalars(query.order_by(Model.owner != catalog.user, Model.id.desc()).limit(1)).first()
        if row is None:
            raise NotFoundError(
                f"no model named {ref!r} of yours or published; {_models_there_are(session, catalog)}"
            )
        session.expunge(row)
        return row


def _models_there_are(session: Session, catalog: Catalog, shown: int = 10) -> str:
    """The newest few of the user's models, for an error that names what can be asked for."""
    query = select(Model.id, Model.name).where(Model.owner == catalog.user).order_by(Model.id.desc())
    newest = session.execute(query.limit(shown + 1)).all()
    if not newest:
        return "you have no models yet: train one (`workbench train DATASET`)"
    listed = ", ".join(f"{model_id} ({name})" for model_id, name in newest[:shown])
    return "your models: " + listed + (", …" if len(newest) > shown else "")


def newest_model_ids(catalog: Catalog, n: int) -> list[int]:
    """The ids of the user's ``n`` newest models, oldest of them first."""
    query = select(Model.id).where(Model.owner == catalog.user).order_by(Model.id.desc()).limit(n)
    with catalog.sessions() as session:
        return sorted(session.scalars(query).all())


def published_model_ids(catalog: Catalog) -> list[int]:
    """The ids of the user's published models, oldest first."""
    query = select(Model.id).where(Model.owner == catalog.user, Model.published).order_by(Model.id)
    with catalog.sessions() as session:
        return list(session.scalars(query).all())


def publish(catalog: Catalog, model_id: int) -> None:
    _set_published(catalog, model_id, True)


def unpublish(catalog: Catalog, model_id: int) -> None:
    _set_published(catalog, model_id, False)


def _set_published(catalog: Catalog, model_id: int, published: bool) -> None:
    get_model(catalog, model_id, to_change=True)
    with catalog.transaction() as session:
        session.get_one(Model, model_id).published = published


def delete_model(catalog: Catalog, model_id: int) -> None:
    """Delete a model with its files (checkpoints and export)."""
    row = get_model(catalog, model_id, to_change=True)
    with catalog.transaction() as session:
        session.delete(session.get_one(Model, model_id))
    if row.export_dir:  # the model's folder: its checkpoints and its export
        catalog.store.discard(row.export_dir.rsplit("/", 1)[0])


def export_folder(catalog: Catalog, model: Model) -> Path:
    """The model's ONNX export as a local folder (fetched from the object store when this host
    has no copy), or NotFoundError."""
    if not model.export_dir:
        raise NotFoundError(f"model {model.id} has no ONNX export")
    return catalog.store.fetch(model.export_dir)


def compare_models(catalog: Catalog, model_ids: list[int]) -> list[dict[str, Any]]:
    """One row of metrics per model, and whether each saw exactly the first one's images."""
    rows = [get_model(catalog, model_id) for model_id in model_ids]
    first = rows[0].train_ids_sha256 if rows else ""
    return [{**summary(row), "same_training_images": row.train_ids_sha256 == first} for row in rows]


def training_datasets(catalog: Catalog, model: Model) -> list[dict[str, Any]]:
    """The datasets a model's training images belong to, most images first: name, kind, images,
    the dataset's params (an augmented one's recipe) and its parent's name."""
    counts: Counter[int] = Counter()
    with catalog.sessions() as session:
        for chunk in batched(model.train_image_ids, 5_000):
            query = select(Image.dataset_id, func.count()).where(Image.id.in_(chunk))
            for dataset_id, n in session.execute(query.group_by(Image.dataset_id)).all():
                counts[dataset_id] += n
        rows = session.scalars(select(Dataset).where(Dataset.id.in_(list(counts)))).all()
        names: dict[int, str] = {row.id: row.name for row in rows}
        parents = {row.parent_id for row in rows if row.parent_id and row.parent_id not in names}
        if parents:
            found = session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(parents))).all()
            names |= {dataset_id: name for dataset_id, name in found}
        return [
            {"name": row.name, "kind": row.kind, "images": counts[row.id], "params": dict(row.params or {}),
             "parent": names.get(row.parent_id) if row.parent_id else None}
            for row in sorted(rows, key=lambda r: -counts[r.id])
        ]  # fmt: skip


def summary(row: Model) -> dict[str, Any]:
    """A model's listing: name, architecture, headline metrics, where its export is."""
    metrics = row.metrics or {}
    headline = {
        k: metrics[k]
        for k in ("accuracy", "top5_accuracy", "macro_f1", "n", "train_seconds", "int8")
        if k in metrics
    }
    return {
        "id": row.id,
        "name": row.name,
        "arch": row.arch,
        "classes": len(row.classes),
        "image_size": row.image_size,
        "metrics": headline,
        "export_dir": row.export_dir,
        "published": row.published,
        "job_id": row.job_id,
        "train_images": len(row.train_image_ids),
        "created_at": row.created_at.isoformat() if row.created_at else None,
    }
