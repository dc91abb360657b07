"""The Postgres schema: sql/schema.sql matches the migrations, initialises a database, upgrades."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, inspect, text

from tests import builders
from tests.conftest import throwaway_postgres_database
from workbench.api import Workbench
from workbench.catalog import db
from workbench.config import Settings

SCHEMA = Path(__file__).parents[2] / "sql" / "schema.sql"


def test_the_revision_known_without_alembic_is_alembics_head() -> None:
    assert db.head_revision() == db.SCHEMA_REVISION


def test_schema_file_is_what_the_migrations_generate() -> None:
    assert SCHEMA.read_text() == db.postgres_schema_sql(), "sql/schema.sql is stale: run `make schema`"


@pytest.mark.postgres
def test_schema_file_initialises_a_database_the_catalog_accepts(tmp_path: Path) -> None:
    with throwaway_postgres_database() as url:
        psql = ["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-q", "-d", _libpq(url), "-f", str(SCHEMA)]
        subprocess.run(psql, check=True, capture_output=True)
        engine = create_engine(url)
        assert db.current_revision(engine) == db.head_revision()
        engine.dispose()
        bench = Workbench(Settings(data_dir=tmp_path, database_url=url, user="tester"))
        bench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 2, "dog": 1}), "pets")
        assert bench.dataset("pets").filter(label="cat").count() == 2
        bench.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_upgrade_from_the_first_schema_keeps_rows_and_backfills_label_counts(
    tmp_path: Path, backend: str
) -> None:
    with _empty_database(backend, tmp_path) as url:
        engine = create_engine(url)
        _migrate(engine, "0001")
        with engine.begin() as connection:
            dataset_id = connection.execute(
                text(
                    "INSERT INTO datasets (owner, name, kind, status, attribute_types, params) "
                    "VALUES ('tester', 'pets', 'source', 'ready', '{}', '{}') RETURNING id"
                )
            ).scalar_one()
            for n, label in enumerate(["cat", "cat", "dog"]):
                connection.execute(
                    text(
                        "INSERT INTO images (dataset_id, owner, sha256, label, width, height, format, "
                        "bytes, original_name, attributes, sample_key) VALUES (:d, 'tester', :sha, "
                        ":label, 8, 8, 'PNG', 100, :name, '{}', :n)"
                    ),
                    {"d": dataset_id, "sha": f"{n:064x}", "label": label, "name": f"{label}/{n}.png", "n": n},
                )
        engine.dispose()
        env = {"WORKBENCH_DATABASE_URL": url, "WORKBENCH_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-m", "workbench.cli", "db", "upgrade"], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert f"catalog schema at {db.head_revision()} (was 0001)" in done.stdout
        bench = Workbench(Settings(data_dir=tmp_path, database_url=url, user="tester"))
        assert bench.dataset("pets").labels() == {"cat": 2, "dog": 1}
        assert bench.dataset("pets").count() == 3
        bench.close()


@pytest.mark.postgres
def test_an_older_schema_is_not_upgraded_behind_the_users_back(tmp_path: Path) -> None:
    with throwaway_postgres_database() as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)"))
            connection.execute(text("INSERT INTO alembic_version VALUES ('0000')"))
        engine.dispose()
        bench = Workbench(Settings(data_dir=tmp_path, database_url=url, user="tester"))
        with pytest.raises(Exception, match="workbench db upgrade"):
            bench.datasets()
        bench.close()


# Foreign keys no delete follows in bulk: a job row is deleted only when its message could not be
# sent, before anything refers to it, and datasets are a handful of rows.
UNINDEXED_ON_PURPOSE = {("models", "job_id"), ("reports", "job_id"), ("predictions", "job_id"),
                        ("datasets", "parent_id")}  # fmt: skip


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_every_foreign_key_a_delete_follows_has_an_index(tmp_path: Path, backend: str) -> None:
    # Without one, each deleted parent row costs the database a scan of the child table: a
    # failed ingest's undo in a catalog of a million images took minutes (migration 0004).
    with _empty_database(backend, tmp_path) as url:
        engine = create_engine(url)
        _migrate(engine, "head")
        inspector = inspect(engine)
        unindexed = []
        for table in inspector.get_table_names():
            leading = [tuple(i["column_names"]) for i in inspector.get_indexes(table)]
            leading += [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)]
            leading.append(tuple(inspector.get_pk_constraint(table)["constrained_columns"]))
            for key in inspector.get_foreign_keys(table):
                columns = tuple(key["constrained_columns"])
                covered = any(index[: len(columns)] == columns for index in leading)
                if not covered and (table, *columns) not in UNINDEXED_ON_PURPOSE:
                    unindexed.append(f"{table}({', '.join(columns)})")
        engine.dispose()
        assert unindexed == []


@contextmanager
def _empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite'}"
    else:
        with throwaway_postgres_database() as url:
            yield url


def _migrate(engine: Engine, revision: str) -> None:
    from alembic import command

    with engine.begin() as connection:
        config = db.alembic_config(engine)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _libpq(url: str) -> str:
    """psql wants postgresql://, not SQLAlchemy's postgresql+psycopg2://."""
    return url.replace("postgresql+psycopg2://", "postgresql://")
