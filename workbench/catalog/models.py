"""SQLAlchemy 2 models of the catalog. The same models serve Postgres and the embedded SQLite."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from workbench.config import LABEL_LENGTH, NAME_LENGTH, OWNER_LENGTH

# A BIGINT key does not autoincrement on SQLite; INTEGER PRIMARY KEY there is already 64-bit.
BigId = BigInteger().with_variant(Integer, "sqlite")
# JSONB (and its GIN index) on Postgres, JSON text on SQLite.
Json = JSON().with_variant(JSONB(), "postgresql")
Sha256 = String(64).with_variant(String(64, collation="C"), "postgresql")


class Base(DeclarativeBase):
    pass


def _now() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class DatasetStatus(StrEnum):
    INGESTING = "ingesting"  # hidden until its ingest finishes
    AUGMENTING = "augmenting"  # hidden until its augment job finishes
    READY = "ready"


class DatasetKind(StrEnum):
    SOURCE = "source"  # ingested from a folder or zip
    AUGMENTED = "augmented"  # made from another dataset's images


class Dataset(Base):
    """A named set of images. ``status`` hides a dataset from listings until its ingest finished."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_datasets_owner_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False, default=DatasetKind.SOURCE)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DatasetStatus.INGESTING)
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("datasets.id", ondelete="SET NULL"))
    source: Mapped[str | None] = mapped_column(Text)
    # {attribute name: "int" | "float" | "str"}: the filterable attributes, kept at ingest time so
    # validating a filter never scans the images.
    attribute_types: Mapped[dict[str, str]] = mapped_column(Json, nullable=False, default=dict)
    # Images per label, recomputed whenever an ingest finishes: the whole dataset's class balance
    # is then one row away instead of a GROUP BY over every image. Anything else that adds or
    # removes images must refresh it too (catalog.refresh_label_counts).
    label_counts: Mapped[dict[str, int]] = mapped_column(
        Json, nullable=False, default=dict, server_default=text("'{}'")
    )
    params: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    created_at: Mapped[dt.datetime] = _now()


class Image(Base):
    """One image of a dataset; the blob it points to is named by its sha256."""

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("dataset_id", "sha256", name="uq_images_dataset_sha256"),
        Index("ix_images_dataset_label_id", "dataset_id", "label", "id"),
        Index(
            "ix_images_attributes_gin",
            "attributes",
            postgresql_using="gin",
            postgresql_ops={"attributes": "jsonb_path_ops"},
        ),
        # Deleting an image finds its augmented copies through this (migration 0004).
        Index(
            "ix_images_source_image_id",
            "source_image_id",
            postgresql_where=text("source_image_id IS NOT NULL"),
            sqlite_where=text("source_image_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    )
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    # Bytewise order on Postgres as on SQLite: the seeded sample walks this column's index.
    sha256: Mapped[str] = mapped_column(Sha256, nullable=False)
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    split: Mapped[str | None] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer, nullable=False)
    height: Mapped[int] = mapped_column(Integer, nullable=False)
    format: Mapped[str] = mapped_column(String(16), nullable=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    original_name: Mapped[str] = mapped_column(Text, nullable=False)
    attributes: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    source_image_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("images.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class Job(Base):
    """The durable state of a job; its id is the Celery task id. A big job fans out into chunk
    jobs (``parent_id`` set) that any worker takes; the parent counts them (``workbench.jobs.fanout``)."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_owner_state", "owner", "state"),
        Index("ix_jobs_parent_id", "parent_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    progress: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(Json)
    error: Mapped[str | None] = mapped_column(Text)
    abort_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    deliveries: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    worker: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = _now()
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    parent_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("jobs.id", ondelete="CASCADE", name="fk_jobs_parent_id")
    )
    chunks: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    chunks_done: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    # What a fanned-out parent's plan worked out for its chunks and its fan-in (a start id...).
    context: Mapped[dict[str, Any] | None] = mapped_column(Json)


class Model(Base):
    """A trained model: what it was trained on, how well it does, and where its files are."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), nullable=False)
    arch: Mapped[str] = mapped_column(String(64), nullable=False)
    classes: Mapped[list[str]] = mapped_column(Json, nullable=False, default=list)
    image_size: Mapped[int] = mapped_column(Integer, nullable=False)
    view: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    train_image_ids: Mapped[list[int]] = mapped_column(Json, nullable=False, default=list)
    train_ids_sha256: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    export_dir: Mapped[str | None] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    job_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()

    def __repr__(self) -> str:
        return f"<Model {self.id} {self.name!r}: {self.arch}, {len(self.classes or [])} classes>"

    def _repr_html_(self) -> str:
        from workbench.catalog.display import card, percent, when

        metrics = self.metrics or {}
        facts = {
            "test accuracy": f"{percent(metrics.get('accuracy'))} on {metrics.get('n', 0):,} test images",
            "classes": ", ".join(self.classes[:12]) + (" …" if len(self.classes) > 12 else ""),
            "trained on": f"{len(self.train_image_ids):,} images of {self.view.get('dataset', '?')}",
            "architecture": f"{self.arch}, {self.image_size} px",
            "published": "yes (others can use it)" if self.published else "no",
            "created": when(self.created_at),
        }
        return card("model", f"Model {self.id}: {self.name}", facts)


class Prediction(Base):
    """A model's answer for one image; unique per model and image so re-runs upsert."""

    __tablename__ = "predictions"
    __table_args__ = (
        UniqueConstraint("model_id", "image_id", name="uq_predictions_model_image"),
        Index("ix_predictions_image_id", "image_id"),  # deleting an image deletes its predictions
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    model_id: Mapped[int] = mapped_column(BigId, ForeignKey("models.id", ondelete="CASCADE"), nullable=False)
    image_id: Mapped[int] = mapped_column(BigId, ForeignKey("images.id", ondelete="CASCADE"), nullable=False)
    label: Mapped[str] = mapped_column(String(LABEL_LENGTH), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    job_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class Report(Base):
    """An executed report notebook and its HTML rendering."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    params: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False, default=dict)
    notebook_path: Mapped[str | None] = mapped_column(Text)
    html_path: Mapped[str | None] = mapped_column(Text)
    job_id: Mapped[str | None] = mapped_column(String(64), ForeignKey("jobs.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = _now()


class Share(Base):
    """A dataset or model its owner lets ``grantee`` (a user, or a team's group role) read."""

    __tablename__ = "shares"
    __table_args__ = (
        UniqueConstraint("kind", "object_id", "grantee", name="uq_shares_object_grantee"),
        CheckConstraint("kind IN ('dataset', 'model')", name="ck_shares_kind"),
        Index("ix_shares_grantee", "grantee", "kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # "dataset" or "model"
    object_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    grantee: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class ApiToken(Base):
    """A personal token for the REST API: its secret's hash, what it may do, until when."""

    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("scope IN ('read', 'write')", name="ck_api_tokens_scope"),
        Index("ix_api_tokens_owner", "owner"),
    )

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    secret_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    scope: Mapped[str] = mapped_column(String(8), nullable=False)  # "read" or "write"
    created_at: Mapped[dt.datetime] = _now()
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ModelUsage(Base):
    """Predictions a model served to one person through one channel on one UTC day, with how
    many were low-confidence answers: counts added to by an upsert (``workbench.usage``). The
    person who asked owns the row; the model's owner may read it too (migration 0008)."""

    __tablename__ = "model_usage"
    __table_args__ = (
        CheckConstraint("channel IN ('dashboard', 'batch', 'api')", name="ck_model_usage_channel"),
    )

    model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("models.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    owner: Mapped[str] = mapped_column(String(OWNER_LENGTH), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    predictions: Mapped[int] = mapped_column(BigInteger, nullable=False)
    low_confidence: Mapped[int] = mapped_column(BigInteger, nullable=False)
