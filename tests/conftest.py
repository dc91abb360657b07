"""Shared fixtures: a catalog on SQLite and on the real Postgres, each fresh per test.

Postgres: one throwaway database per test session (dropped at the end), tables emptied between
tests. Without a reachable server the Postgres cases are skipped with the reason, unless
WORKBENCH_REQUIRE_SERVICES=1 (CI sets it), where that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from workbench.api import Workbench
from workbench.config import JobTimings, Settings

if TYPE_CHECKING:
    from tests.seaweedfs import S3Server
    from tests.services import Worker

POSTGRES_ADMIN_URL = os.environ.get(
    "WORKBENCH_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_SERVICES = os.environ.get("WORKBENCH_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def _test_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One home for the session: matplotlib builds its font cache there once, not per test."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture(autouse=True)
def _isolated_home(_test_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep matplotlib/IPython caches and any stray WORKBENCH_* settings out of the tests."""
    home = _test_home
    monkeypatch.setenv("MPLCONFIGDIR", str(home / "mpl"))
    monkeypatch.setenv("IPYTHONDIR", str(home / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    for name in list(os.environ):
        if name.startswith("WORKBENCH_") and name not in (
            "WORKBENCH_REQUIRE_SERVICES",
            "WORKBENCH_TEST_POSTGRES_URL",
        ):
            monkeypatch.delenv(name)


def _unavailable(what: str, exc: Exception) -> None:
    message = f"{what} is not reachable ({exc.__class__.__name__}: {str(exc).strip()[:200]})"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; WORKBENCH_REQUIRE_SERVICES=1 makes this a failure")
    pytest.skip(message)


@contextmanager
def throwaway_postgres_database() -> Iterator[str]:
    """A new, empty database on the real server, dropped afterwards whatever happens (even
    after a restart of the server in between: the pool checks its connection first)."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    name = f"workbench_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        _unavailable("Postgres at " + make_url(POSTGRES_ADMIN_URL).render_as_string(), exc)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """One database for the whole test session; tests empty its tables (see ``settings``)."""
    with throwaway_postgres_database() as url:
        yield url


def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        exists = connection.execute(text("SELECT to_regclass('public.images')")).scalar()
        if exists:
            tables = "datasets, images, jobs, models, predictions, reports, shares, api_tokens, model_usage"
            connection.execute(text(f"TRUNCATE {tables} CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for a fresh catalog on ``backend``, with blobs in this test's temporary folder."""
    database_url = ""
    if backend == "postgres":
        database_url = request.getfixturevalue("postgres_url")
        _empty_tables(database_url)
    return Settings(data_dir=tmp_path / "data", database_url=database_url, user="tester")


@pytest.fixture
def workbench(settings: Settings) -> Iterator[Workbench]:
    from tests import services

    bench = Workbench(settings)
    yield bench
    bench.close()
    # A local worker left polling the session's Postgres database would claim the next tests' jobs.
    services.kill_local_worker(settings)


@pytest.fixture
def env_for(settings: Settings) -> dict[str, str]:
    """The environment that points the ``workbench`` command at this test's catalog."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(WORKBENCH_DATA_DIR=str(settings.data_dir), WORKBENCH_USER=settings.user)
    if settings.database_url:
        env["WORKBENCH_DATABASE_URL"] = settings.database_url
    return env


# Short job timings for tests that kill workers: a lost job is seen in seconds, not a minute.
FAST_JOBS = JobTimings(heartbeat_seconds=0.5, stale_seconds=3.0, max_deliveries=3)


@pytest.fixture
def broker_url() -> Iterator[str]:
    """A throwaway RabbitMQ vhost (deleted after), with Redis checked to be up."""
    from tests import services

    try:
        services.check_redis()
        vhost = services.throwaway_vhost()
        url = vhost.__enter__()
    except Exception as exc:
        _unavailable("RabbitMQ/Redis", exc)
    try:
        yield url
    finally:
        vhost.__exit__(None, None, None)


@pytest.fixture
def job_settings(postgres_url: str, broker_url: str, tmp_path: Path) -> Iterator[Settings]:
    """The distributed setup: the real Postgres (tables emptied), RabbitMQ and Redis (the tests'
    database, emptied before and after)."""
    from tests import services

    _empty_tables(postgres_url)
    services.flush_test_redis()
    yield Settings(
        data_dir=tmp_path / "data", database_url=postgres_url, broker_url=broker_url,
        result_backend=services.REDIS_URL, user="tester", jobs=FAST_JOBS,
    )  # fmt: skip
    services.flush_test_redis()


@pytest.fixture
def bench(job_settings: Settings) -> Iterator[Workbench]:
    workbench = Workbench(job_settings)
    yield workbench
    workbench.close()


@pytest.fixture
def start_worker(job_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start real Celery workers on ``job_settings``; all are stopped at the end of the test."""
    from tests.services import Worker

    started: list[Worker] = []

    def start(**options: object) -> Worker:
        worker = Worker(job_settings, tmp_path / f"worker{len(started)}.log", **options)  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The real S3 server (SeaweedFS), one per session; stopped at the end whatever happens."""
    from tests.seaweedfs import seaweedfs as start_seaweedfs

    root = tmp_path_factory.mktemp("seaweedfs")
    try:
        server = start_seaweedfs(root / "data", root / "weed.log")
        started = server.__enter__()
    except Exception as exc:
        _unavailable("SeaweedFS", exc)
    try:
        yield started
    finally:
        server.__exit__(None, None, None)


@pytest.fixture
def s3_settings(seaweedfs: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The embedded catalog with its blobs in SeaweedFS, under a prefix of this test's own."""
    for name, value in seaweedfs.environ().items():
        monkeypatch.setenv(name, value)
    return Settings(
        data_dir=tmp_path / "data", user="tester", storage_url=f"s3://{seaweedfs.bucket}/{uuid.uuid4().hex}",
        s3_endpoint_url=seaweedfs.endpoint_url,
    )  # fmt: skip
