"""One typed settings object, read from the environment once and passed down.

With no variables set, the embedded default runs everything on one machine: SQLite and the blob
store under the data directory (``./.workbench``), and jobs on a local worker.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError

DEFAULT_DATA_DIR = ".workbench"
# The report notebooks of a source checkout (an editable install); an installed package points
# WORKBENCH_REPORT_NOTEBOOKS at its copy (the worker image: /app/notebooks/reports).
DEFAULT_REPORT_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "reports"
# Lengths of the catalog's text columns (catalog/models.py declares them with these): longer input
# is refused where it enters, saying the limit, never by the database with a traceback.
OWNER_LENGTH = 128  # WORKBENCH_USER
NAME_LENGTH = 256  # dataset and model names, CSV column names
LABEL_LENGTH = 256


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile or accidental input from exhausting the machine."""

    max_image_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 89_478_485  # Pillow's own default decompression-bomb limit
    max_archive_members: int = 1_000_000
    max_archive_total_bytes: int = 20 * 1024**3
    max_archive_ratio: int = 200  # JPEG/PNG barely compress; 200:1 is a bomb, not a photo
    # A filter's size: a million values once became a million SQL clauses and took the shared
    # Postgres down (decision #40). Lists go to the database as one array parameter.
    filter_max_values: int = 100_000  # in one field's list
    filter_max_fields: int = 64
    filter_max_total_values: int = 200_000  # over every field
    # A CSV's shape: every column becomes an attribute that stats and the filter widgets walk.
    csv_max_columns: int = 256
    csv_max_cell_chars: int = 65_536  # a longer cell skips its row (reported)
    # Postgres cancels a catalog statement running longer (0: never), so one query cannot hold
    # the shared database; `workbench db upgrade` runs without it.
    statement_timeout_seconds: float = 300.0


@dataclass(frozen=True)
class JobTimings:
    """How jobs prove they are alive, when a silent one counts as lost, and how a job and its
    worker live with a memory that runs out (docs/decisions.md #82-#84)."""

    heartbeat_seconds: float = 5.0  # a running job touches its row this often
    stale_seconds: float = 60.0  # no heartbeat for this long: its worker is gone, run it again
    max_deliveries: int = 3  # a job started this many times without ending fails (an OOM loop)
    # A torch worker (prefork) runs each job in a child process replaced after this many jobs
    # (0: never), or after a job that left its peak resident memory above this many KiB (0: no mark).
    max_tasks_per_child: int = 1
    max_memory_per_child_kib: int = 0
    min_batch_size: int = 8  # out of memory, a batch halves down to this and no further

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_seconds * 2 <= self.stale_seconds:
            raise ConfigError("a job's stale time must be at least twice its heartbeat interval")
        if self.max_deliveries < 1:
            raise ConfigError("WORKBENCH_JOB_MAX_DELIVERIES must be at least 1")
        if self.max_tasks_per_child < 0 or self.max_memory_per_child_kib < 0:
            raise ConfigError("a worker child's job and memory limits are 0 (none) or more")
        if self.min_batch_size < 1:
            raise ConfigError("WORKBENCH_MIN_BATCH_SIZE must be at least 1")


@dataclass(frozen=True)
class Settings:
    """Where the catalog, blobs, broker and results live, and who the current user is."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    database_url: str = ""
    broker_url: str = ""
    result_backend: str = ""
    user: str = "local"
    limits: Limits = field(default_factory=Limits)
    jobs: JobTimings = field(default_factory=JobTimings)
    report_notebooks: Path = DEFAULT_REPORT_NOTEBOOKS  # model_report.ipynb, dataset_report.ipynb...
    report_keep: int = 10  # reports kept per kind and parameters; older ones are deleted
    job_modules: tuple[str, ...] = ()  # modules declaring more job kinds (workbench.kinds)
    storage_url: str = ""  # s3://bucket[/prefix]; empty: blobs in the data directory
    s3_endpoint_url: str = ""  # an S3-compatible server (SeaweedFS...); empty: AWS's own
    cache_max_mb: int = 2048  # each host's local cache of objects read from S3
    metrics_port: int = 0  # Prometheus metrics of a worker or the REST API; 0: not served
    metrics_address: str = "127.0.0.1"
    metrics_password: str = ""  # the scrape's login (user "prometheus"); metrics need one
    prometheus_url: str = ""  # the operations report's source, with its login in the URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        object.__setattr__(self, "report_notebooks", Path(self.report_notebooks).expanduser().absolute())
        if self.cache_max_mb < 1:
            raise ConfigError("WORKBENCH_CACHE_MAX_MB must be at least 1")
        if self.report_keep < 1:
            raise ConfigError("WORKBENCH_REPORT_KEEP must be at least 1 (the report just made)")
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        if not self.user.strip():
            raise ConfigError("WORKBENCH_USER is empty: set it to a user name or unset it")
        if len(self.user) > OWNER_LENGTH:
            raise ConfigError(
                f"WORKBENCH_USER is {len(self.user):,} characters long; the limit is {OWNER_LENGTH}: "
                "set a shorter user name"
            )

    @property
    def embedded(self) -> bool:
        """True when no broker is configured: jobs run on the local worker."""
        return not self.broker_url

    @property
    def catalog_url(self) -> str:
        """The database to use: the configured one, else SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'catalog.sqlite'}"

    @property
    def is_sqlite(self) -> bool:
        return self.catalog_url.startswith("sqlite")

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]  # fields by name: checked at run time

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from the WORKBENCH_* variables (``VARIABLES``); unset or empty: the default."""
        env = os.environ if environ is None else environ
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {"jobs": {}, "limits": {}}
        for variable in VARIABLES:
            text = env.get(variable.name, "")
            if text:
                value = variable.parse(variable.name, text.strip())
            elif variable.fallback is not None:
                value = variable.fallback()
            else:
                continue
            group, _, name = variable.field.rpartition(".")
            (nested[group] if group else top)[name] = value
        if env.get("JUPYTERHUB_USER"):  # a server the hub started: the hub says who this is
            top["user"] = env["JUPYTERHUB_USER"]
        return cls(**top, jobs=JobTimings(**nested["jobs"]), limits=Limits(**nested["limits"]))

    def environ(self) -> dict[str, str]:
        """These settings as the variables a child process (a worker) reads them from."""
        return {variable.name: variable.render(self.value_of(variable)) for variable in VARIABLES}

    def value_of(self, variable: Variable) -> Any:
        value: Any = self
        for part in variable.field.split("."):
            value = getattr(value, part)
        return value


@dataclass(frozen=True)
class Variable:
    """One environment variable: the setting it fills, how its text is read, what it is for."""

    name: str
    field: str  # a Settings field, or "jobs.<field>" or "limits.<field>"
    parse: Callable[[str, str], Any]  # (variable name, text) -> value; ConfigError when malformed
    help: str
    secret: bool = False  # a URL that may carry a password: shown masked by ``workbench config``
    fallback: Callable[[], Any] | None = None  # the value when unset, where the field's default won't do

    def render(self, value: Any) -> str:
        if isinstance(value, tuple):
            return ",".join(value)
        return str(value)


def _text(_: str, text: str) -> str:
    return text


def _path(_: str, text: str) -> Path:
    return Path(text)


def _modules(_: str, text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None


def _int(name: str, text: str) -> int:
    value = _float(name, text)
    if not value.is_integer():
        raise ConfigError(f"{name}={text!r} is not a whole number")
    return int(value)


def _at_least_one(name: str, text: str) -> int:
    value = _int(name, text)
    if value < 1:
        raise ConfigError(f"{name}={text!r}: the limit must be at least 1")
    return value


def _seconds(name: str, text: str) -> float:
    value = _float(name, text)
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{name}={text!r}: give seconds, 0 or more (0: no limit)")
    return value


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return "local"


# Every variable workbench reads, once: its default is the Settings field's (or the fallback's).
VARIABLES = (
    Variable("WORKBENCH_DATA_DIR", "data_dir", _path, "blobs, thumbnails, the embedded catalog"),
    Variable("WORKBENCH_STORAGE_URL", "storage_url", _text,
             "where blobs live: s3://bucket[/prefix] (empty: the data directory); credentials from "
             "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
    Variable("WORKBENCH_S3_ENDPOINT_URL", "s3_endpoint_url", _text,
             "an S3-compatible server, e.g. http://store-host:8333 (empty: AWS)"),
    Variable("WORKBENCH_CACHE_MAX_MB", "cache_max_mb", _at_least_one,
             "megabytes of objects read from S3 each host keeps on its disk"),
    Variable("WORKBENCH_DATABASE_URL", "database_url", _text,
             "the catalog, e.g. postgresql://user@db-host/workbench (empty: SQLite in the data directory)",
             secret=True),
    Variable("WORKBENCH_BROKER_URL", "broker_url", _text,
             "RabbitMQ, e.g. amqp://user:password@mq-host:5672// (empty: jobs run on a local worker)",
             secret=True),
    Variable("WORKBENCH_RESULT_BACKEND", "result_backend", _text,
             "Redis for live progress, e.g. redis://cache-host:6379/0 (empty: none)", secret=True),
    Variable("WORKBENCH_USER", "user", _text, "who owns what you create; you see only your own",
             fallback=_login_name),
    Variable("WORKBENCH_JOB_HEARTBEAT_SECONDS", "jobs.heartbeat_seconds", _float,
             "how often a running job proves it is alive"),
    Variable("WORKBENCH_JOB_STALE_SECONDS", "jobs.stale_seconds", _float,
             "after how long a silent job is run again elsewhere"),
    Variable("WORKBENCH_JOB_MAX_DELIVERIES", "jobs.max_deliveries", _int,
             "how many starts a job gets before it fails (an out-of-memory loop)"),
    Variable("WORKBENCH_WORKER_MAX_TASKS_PER_CHILD", "jobs.max_tasks_per_child", _int,
             "jobs a torch worker's child process runs before it is replaced (0: no limit)"),
    Variable("WORKBENCH_WORKER_MAX_MEMORY_PER_CHILD_KIB", "jobs.max_memory_per_child_kib", _int,
             "a torch worker's child is replaced after a job that took it above this many KiB "
             "resident (0: no mark)"),
    Variable("WORKBENCH_MIN_BATCH_SIZE", "jobs.min_batch_size", _at_least_one,
             "out of memory, a job's batch halves down to this size and no further"),
    Variable("WORKBENCH_REPORT_NOTEBOOKS", "report_notebooks", _path, "the folder of the report notebooks"),
    Variable("WORKBENCH_REPORT_KEEP", "report_keep", _int, "reports kept per kind and parameters"),
    Variable("WORKBENCH_JOB_MODULES", "job_modules", _modules,
             "more modules declaring job kinds, comma-separated (see docs/architecture.md)"),
    Variable("WORKBENCH_FILTER_MAX_VALUES", "limits.filter_max_values", _at_least_one,
             "values one filter field may list"),
    Variable("WORKBENCH_FILTER_MAX_FIELDS", "limits.filter_max_fields", _at_least_one,
             "fields (conditions) one filter may have"),
    Variable("WORKBENCH_FILTER_MAX_TOTAL_VALUES", "limits.filter_max_total_values", _at_least_one,
             "values one filter may list over all its fields"),
    Variable("WORKBENCH_CSV_MAX_COLUMNS", "limits.csv_max_columns", _at_least_one,
             "columns an ingest's CSV may have (each becomes an attribute)"),
    Variable("WORKBENCH_CSV_MAX_CELL_CHARS", "limits.csv_max_cell_chars", _at_least_one,
             "characters in one CSV cell; a row with a longer cell is skipped and reported"),
    Variable("WORKBENCH_METRICS_PORT", "metrics_port", _int,
             "a worker (or the REST API) serves Prometheus metrics on this port (0: none)"),
    Variable("WORKBENCH_METRICS_ADDRESS", "metrics_address", _text,
             "the address the metrics are served on (0.0.0.0: every interface)"),
    Variable("WORKBENCH_METRICS_PASSWORD", "metrics_password", _text,
             "the metrics' login for Prometheus (user prometheus); without it none are served",
             secret=True),
    Variable("WORKBENCH_PROMETHEUS_URL", "prometheus_url", _text,
             "Prometheus for the operations report, e.g. http://user:password@127.0.0.1:9090", secret=True),
    Variable("WORKBENCH_STATEMENT_TIMEOUT_SECONDS", "limits.statement_timeout_seconds", _seconds,
             "Postgres cancels a catalog statement running longer than this (0: never)"),
)  # fmt: skip


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``postgresql://``) and pick our driver."""
    url = url.strip()
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    if url and not url.startswith(("postgresql+psycopg2://", "sqlite:")):
        raise ConfigError(
            f"WORKBENCH_DATABASE_URL {url.split('://')[0]}:// is not supported: "
            "use postgresql://user@host/db or sqlite:///path"
        )
    return url
