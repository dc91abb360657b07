"""Bulk writes of image rows: COPY on Postgres, executemany on SQLite; never one ORM add per row.

Both paths skip rows whose (dataset_id, sha256) already exists, so a redelivered or re-run chunk
writes each image exactly once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

import psycopg2.errors
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from workbench.catalog.models import Image

IMAGE_COLUMNS = (
    "dataset_id",
    "owner",
    "sha256",
    "label",
    "split",
    "width",
    "height",
    "format",
    "bytes",
    "original_name",
    "attributes",
    "sample_key",
    "source_image_id",
)


def sample_key(sha256: str) -> int:
    """A uniform 52-bit number from the content hash: stable, and independent of the label."""
    return int(sha256[:13], 16)


def insert_images(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts keyed by IMAGE_COLUMNS); returns how many were new."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        return _copy_images(session, rows)
    # Core, not the ORM's bulk path: the ORM collects per-row insert commands we do not need.
    table = Image.__table__
    statement = sqlite_insert(table).on_conflict_do_nothing(index_elements=["dataset_id", "sha256"])
    connection = session.connection()
    before = connection.exec_driver_sql("SELECT total_changes()").scalar_one()
    connection.execute(statement, [_complete(row) for row in rows])
    return connection.exec_driver_sql("SELECT total_changes()").scalar_one() - before


def _copy_images(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        row = _complete(row)
        row["attributes"] = json.dumps(row["attributes"], ensure_ascii=False)
        writer.writerow(["\\N" if row[c] is None else row[c] for c in IMAGE_COLUMNS])
    columns = ", ".join(IMAGE_COLUMNS)
    copy = f"COPY {{table}} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        # Fast path: COPY straight into images. Callers skip rows they know exist, so a conflict
        # means another writer raced us; only then pay for a staging table and ON CONFLICT.
        cursor.execute("SAVEPOINT copy_images")
        try:
            buffer.seek(0)
            cursor.copy_expert(copy.format(table="images"), buffer)
            cursor.execute("RELEASE SAVEPOINT copy_images")
            return len(rows)
        except psycopg2.errors.UniqueViolation:
            cursor.execute("ROLLBACK TO SAVEPOINT copy_images")
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS images_load ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM images WITH NO DATA"
        )
        cursor.execute("TRUNCATE images_load")
        buffer.seek(0)
        cursor.copy_expert(copy.format(table="images_load"), buffer)
        cursor.execute(
            f"INSERT INTO images ({columns}) SELECT {columns} FROM images_load "
            "ON CONFLICT (dataset_id, sha256) DO NOTHING"
        )
        return cursor.rowcount
    finally:
        cursor.close()


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    full = {column: None for column in IMAGE_COLUMNS}
    full.update(row)
    if full["sample_key"] is None:
        full["sample_key"] = sample_key(full["sha256"])
    if full["attributes"] is None:
        full["attributes"] = {}
    return full
