"""Isolation the database enforces (a team server's Postgres, decision #67): with the credentials
in his own environment, bob's arbitrary SQL reads none of alice's rows in any table and can change
none of them, and cannot become anyone else; a worker's pooled connection acts as alice for her
job and as bob for his, and nothing of the first leaks into the second."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from tests import builders
from tests.team import Team, team_database
from workbench.catalog import Catalog
from workbench.catalog.models import Dataset, Image, Model, Prediction, Report, Share
from workbench.catalog.models import Job as JobRow
from workbench.errors import CatalogError
from workbench.ingest import ingest
from workbench.jobs.kind import JobParams, job_kind, registered
from workbench.jobs.runner import JobContext, run_job

pytestmark = pytest.mark.postgres

TABLES = ("datasets", "images", "jobs", "models", "predictions", "reports", "shares")
NEW_DATASET = (
    "INSERT INTO datasets (owner, name, kind, status, params, attribute_types, label_counts) "
    "VALUES (:o, :n, 'source', 'ready', '{}', '{}', '{}')"
)


@pytest.fixture
def team() -> Iterator[Team]:
    with team_database(("alice", "bob", "carol")) as team:
        yield team


def _alices_rows(team: Team, tmp_path: Path) -> Catalog:
    """A row of alice's in every table, written through her own catalog (her login, her role)."""
    catalog = team.catalog("alice", tmp_path / "alice")
    folder = builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    ingest(catalog, folder, "pets", processes=1)
    alice = team.user("alice")
    with catalog.transaction() as session:
        dataset = session.scalars(select(Dataset)).one()
        image = session.scalars(select(Image)).first()
        assert image is not None
        job = JobRow(id=uuid.uuid4().hex, owner=alice, kind="ping", params={})
        model = Model(owner=alice, name="m", arch="resnet18", classes=["cat", "dog"], image_size=16)
        session.add_all([job, model])
        session.flush()
        session.add_all([
            Prediction(owner=alice, model_id=model.id, image_id=image.id, label="cat", score=0.9),
            Report(owner=alice, kind="dataset", params={"dataset": "pets"}),
            Share(kind="dataset", object_id=dataset.id, owner=alice, grantee=team.user("carol")),
        ])  # fmt: skip
    return catalog


def _count(connection: Connection, table: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)


def _refused(connection: Connection, sql: str, params: dict[str, Any] | None = None) -> str:
    """Run ``sql`` in a savepoint; it must fail. Returns Postgres's message."""
    savepoint = connection.begin_nested()
    try:
        connection.execute(text(sql), params or {})
    except DBAPIError as exc:
        savepoint.rollback()
        return str(exc.orig)
    savepoint.rollback()
    raise AssertionError(f"bob was allowed: {sql}")


def test_bobs_own_sql_reads_and_changes_none_of_alices_rows(team: Team, tmp_path: Path) -> None:
    _alices_rows(team, tmp_path)
    admin = create_engine(team.admin_url)
    with admin.connect() as connection:
        before = {table: _count(connection, table) for table in TABLES}
    assert all(before.values()), before  # alice has rows in every table

    bob = create_engine(team.url(team.user("bob")))  # what his server's environment holds
    with bob.connect() as connection:
        for table in TABLES:
            assert _count(connection, table) == 0, table
            assert connection.execute(text(f"UPDATE {table} SET owner = owner")).rowcount == 0, table  # type: ignore[attr-defined]
            assert connection.execute(text(f"DELETE FROM {table}")).rowcount == 0, table  # type: ignore[attr-defined]
        # Writing rows in alice's name, becoming her or the service, turning the policies off:
        alice, service = team.user("alice"), team.service
        message = _refused(connection, NEW_DATASET, {"o": alice, "n": "x"})
        assert "row-level security" in message
        assert "permission denied to set role" in _refused(connection, f'SET ROLE "{alice}"')
        assert "permission denied to set role" in _refused(connection, f'SET ROLE "{service}"')
        assert "permission denied to set role" in _refused(
            connection, "SELECT set_config('role', :r, false)", {"r": alice}
        )
        assert "permission denied" in _refused(connection, "TRUNCATE images CASCADE")
        assert "must be owner" in _refused(connection, "ALTER TABLE images DISABLE ROW LEVEL SECURITY")
        connection.execute(
            text("SET LOCAL row_security = off")
        )  # then a read that policies would filter fails
        assert "row-level security" in _refused(connection, "SELECT count(*) FROM images")
        connection.rollback()
        # Bob's own rows are his: the policies filter, they do not deny everything.
        connection.execute(text(NEW_DATASET), {"o": team.user("bob"), "n": "mine"})
        assert connection.execute(text("SELECT name FROM datasets")).scalars().all() == ["mine"]
        connection.rollback()
    with admin.connect() as connection:
        assert {table: _count(connection, table) for table in TABLES} == before
    bob.dispose()
    admin.dispose()


def test_a_catalog_cannot_claim_another_users_name(team: Team, tmp_path: Path) -> None:
    """WORKBENCH_USER set to alice in bob's server, with bob's login: refused, not obeyed."""
    settings = team.settings("bob", tmp_path / "bob").with_overrides(user=team.user("alice"))
    catalog = Catalog(settings)
    with pytest.raises(CatalogError, match="may not act as user"):
        catalog.dataset_names(catalog.sessions())
    catalog.dispose()


# -- a worker's pool --------------------------------------------------------------------------------
class WhoAmIParams(JobParams):
    pass


@job_kind("test_whoami", queue="imagery", params=WhoAmIParams)
def whoami(ctx: JobContext[WhoAmIParams]) -> dict[str, Any]:
    """What the job's own transactions see, in raw SQL (no owner filter of ours)."""
    with ctx.catalog.sessions() as session:
        return {
            "role": session.execute(text("SELECT current_user")).scalar(),
            "backend": session.execute(text("SELECT pg_backend_pid()")).scalar(),
            "datasets": sorted(session.execute(text("SELECT name FROM datasets")).scalars()),
            "images": session.execute(select(func.count()).select_from(Image)).scalar(),
        }


def _queue(catalog: Catalog, kind: str) -> str:
    """A queued job row, as `submit` writes it, in the user's own transaction."""
    job_id = uuid.uuid4().hex
    with catalog.transaction() as session:
        session.add(JobRow(id=job_id, owner=catalog.user, kind=kind, params={}))
    return job_id


def test_a_pooled_worker_connection_runs_alices_job_then_bobs_and_bob_sees_only_his(
    team: Team, tmp_path: Path
) -> None:
    alice = _alices_rows(team, tmp_path)
    bob = team.catalog("bob", tmp_path / "bob")
    ingest(bob, builders.image_folder(tmp_path / "owls", {"owl": 2}), "owls", processes=1)
    jobs = [_queue(alice, "test_whoami"), _queue(bob, "test_whoami")]

    service = Catalog(team.service_settings(tmp_path / "worker"), service=True)
    kinds = registered()
    for job_id in jobs:  # one after another in one thread: the pool hands back its one connection
        assert run_job(service, job_id, "pool-test", kinds) == "succeeded"
    with service.sessions() as session:
        seen = [session.get_one(JobRow, job_id).result for job_id in jobs]
        assert session.execute(text("SELECT current_user")).scalar() == team.service  # nothing stayed
    assert seen[0] is not None and seen[1] is not None
    assert seen[0]["backend"] == seen[1]["backend"]  # the same pooled connection
    assert (seen[0]["role"], seen[0]["datasets"], seen[0]["images"]) == (team.user("alice"), ["pets"], 6)
    assert (seen[1]["role"], seen[1]["datasets"], seen[1]["images"]) == (team.user("bob"), ["owls"], 2)
    for catalog in (alice, bob, service):
        catalog.dispose()


# -- a scheduled report ---------------------------------------------------------------------------
@pytest.mark.slow
def test_a_scheduled_report_runs_as_its_owner_and_sees_only_her_data(
    team: Team, broker_url: str, tmp_path: Path
) -> None:
    from tests import services
    from workbench.api import Workbench
    from workbench.schedule import ScheduleEntry, submit_entry

    data = tmp_path / "data"  # one machine's data directory (the object store, on a team server)
    jobs = {"broker_url": broker_url, "result_backend": services.REDIS_URL}
    alice = Workbench(team.settings("alice", data).with_overrides(**jobs))
    bob = Workbench(team.settings("bob", data).with_overrides(**jobs))
    ingest(alice.catalog, builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 3}), "pets", processes=1)
    ingest(
        bob.catalog, builders.image_folder(tmp_path / "owls", {"owl": 5}), "pets", processes=1
    )  # same name
    service = team.service_settings(data, **jobs)
    worker = services.Worker(service, tmp_path / "worker.log", queues="imagery")
    try:
        entry = ScheduleEntry(
            name="daily", kind="dataset", params={"dataset": "pets"}, every=3600.0, user=team.user("alice")
        )
        (job_id,) = submit_entry(service, entry)  # what beat's task does, on the service's login
        info = alice.job(job_id).wait(timeout=300)
        assert info.state == "succeeded", info.error
    finally:
        worker.stop()
    (report,) = alice.reports()
    page = alice.report_html(report["id"]).read_text()
    assert "cat" in page and "owl" not in page  # alice's pets, not bob's
    assert bob.reports() == []
    alice.close()
    bob.close()


def test_bob_can_neither_open_alices_dataset_with_a_share_of_his_own_nor_slip_images_into_it(
    team: Team, tmp_path: Path
) -> None:
    _alices_rows(team, tmp_path)
    admin = create_engine(team.admin_url)
    with admin.connect() as connection:
        dataset_id, model_id = (
            connection.execute(text(f"SELECT id FROM {table} LIMIT 1")).scalar()
            for table in ("datasets", "models")
        )
    bob_role = team.user("bob")
    bob = create_engine(team.url(bob_role))
    with bob.connect() as connection:
        for kind, object_id in (("dataset", dataset_id), ("model", model_id)):  # his own row, naming hers
            connection.execute(
                text("INSERT INTO shares (kind, object_id, owner, grantee) VALUES (:k, :i, :o, :o)"),
                {"k": kind, "i": object_id, "o": bob_role},
            )
        message = _refused(
            connection,
            "INSERT INTO images (dataset_id, owner, sha256, label, width, height, format, bytes, attributes) "
            "VALUES (:d, :o, :s, 'cat', 1, 1, 'PNG', 1, '{}')",
            {"d": dataset_id, "o": bob_role, "s": "0" * 64},
        )
        assert "row-level security" in message
        assert [_count(connection, table) for table in ("datasets", "images", "models")] == [0, 0, 0]
    bob.dispose()
    admin.dispose()
