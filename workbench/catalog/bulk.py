"""Bulk writes of image rows: COPY on Postgres, the driver's executemany on SQLite; never one ORM
add per row.

Both paths skip rows whose (dataset_id, sha256) already exists, so a redelivered or re-run chunk
writes each image exactly once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

import orjson
import psycopg2.errors
from sqlalchemy.orm import Session

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
    "source_image_id",
)


def insert_images(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert ``rows`` (dicts keyed by IMAGE_COLUMNS); returns how many were new."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        return _copy_images(session, rows)
    return _executemany_images(session, rows)


def _executemany_images(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    # The driver's executemany with JSON encoded here: SQLAlchemy's per-row parameter processing
    # cost more than SQLite's insert itself (the ORM's bulk path more still).
    columns = ", ".join(IMAGE_COLUMNS)
    statement = (
        f"INSERT INTO images ({columns}) VALUES ({', '.join('?' * len(IMAGE_COLUMNS))}) "
        "ON CONFLICT (dataset_id, sha256) DO NOTHING"
    )
    values = _values(rows)
    connection = session.connection()
    before = connection.exec_driver_sql("SELECT total_changes()").scalar_one()
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open: never None
    try:
        cursor.executemany(statement, values)
    finally:
        cursor.close()
    return connection.exec_driver_sql("SELECT total_changes()").scalar_one() - before


def _copy_images(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    columns = ", ".join(IMAGE_COLUMNS)
    copy = f"COPY {{table}} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]  # open: never None
    try:
        # Fast path: COPY straight into images. Callers skip rows they know exist, so a conflict
        # means another writer raced us; only then pay for a staging table and ON CONFLICT. A
        # user's role on a team server takes the staging path too: COPY FROM into a table with
        # row-level security is refused (the INSERT from the staging table obeys the policies).
        cursor.execute("SAVEPOINT copy_images")
        try:
            cursor.copy_expert(copy.format(table="images"), _CsvStream(rows), size=_STREAM_BYTES)
            cursor.execute("RELEASE SAVEPOINT copy_images")
            return len(rows)
        except (psycopg2.errors.UniqueViolation, psycopg2.errors.FeatureNotSupported):
            cursor.execute("ROLLBACK TO SAVEPOINT copy_images")
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS images_load ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM images WITH NO DATA"
        )
        cursor.execute("TRUNCATE images_load")
        cursor.copy_expert(copy.format(table="images_load"), _CsvStream(rows), size=_STREAM_BYTES)
        cursor.execute(
            f"INSERT INTO images ({columns}) SELECT {columns} FROM images_load "
            "ON CONFLICT (dataset_id, sha256) DO NOTHING"
        )
        return cursor.rowcount
    finally:
        cursor.close()


_STREAM_BYTES = 256 * 1024
_STREAM_ROWS = 500


class _CsvStream:
    """CSV text for COPY, encoded a few hundred rows at a time as psycopg2 reads it.

    The server parses and indexes one block while this process encodes the next (JSON and CSV
    alike), so on two cores the encoding costs almost nothing, where rows encoded whole first add
    their time in full (batches of 50,000 into a million rows: 12% faster this way).
    """

    def __init__(self, rows: Sequence[dict[str, Any]]) -> None:
        self._rows = rows
        self._next = 0
        self._pending = ""
        self._text = io.StringIO()
        self._writer = csv.writer(self._text)

    def read(self, size: int = -1) -> str:
        while (size < 0 or len(self._pending) < size) and self._next < len(self._rows):
            block = _values(self._rows[self._next : self._next + _STREAM_ROWS])
            self._next += _STREAM_ROWS
            self._text.seek(0)
            self._text.truncate()
            self._writer.writerows(["\\N" if v is None else v for v in row] for row in block)
            self._pending += self._text.getvalue()
        if size < 0:
            size = len(self._pending)
        chunk, self._pending = self._pending[:size], self._pending[size:]
        return chunk


def _encode_json(value: dict[str, Any]) -> str:
    return orjson.dumps(value).decode()  # a fifth of json.dumps' time


def _values(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as tuples in IMAGE_COLUMNS order (ids follow the caller's order), attributes as JSON."""
    values = []
    for row in rows:
        get = row.get
        values.append((
            row["dataset_id"], row["owner"], row["sha256"], row["label"], get("split"),
            row["width"], row["height"], row["format"], row["bytes"], row["original_name"],
            _encode_json(get("attributes") or {}),
            get("source_image_id"),
        ))  # fmt: skip
    return values
