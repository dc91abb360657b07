"""One typed settings object, read from the environment once and passed down.

With no variables set, the embedded default runs everything on one machine: SQLite and the blob
store under the data directory (``./.workbench``), and jobs on a local worker.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from workbench.errors import ConfigError

DEFAULT_DATA_DIR = ".workbench"
# The report notebooks of a source checkout (an editable install); an installed package points
# WORKBENCH_REPORT_NOTEBOOKS at its copy (the worker image: /app/notebooks/reports).
DEFAULT_REPORT_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "reports"


@dataclass(frozen=True)
class Limits:
    """Bounds that keep hostile or accidental input from exhausting the machine."""

    max_image_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 89_478_485  # Pillow's own default decompression-bomb limit
    max_archive_members: int = 1_000_000
    max_archive_total_bytes: int = 20 * 1024**3
    max_archive_ratio: int = 200  # JPEG/PNG barely compress; 200:1 is a bomb, not a photo


@dataclass(frozen=True)
class JobTimings:
    """How jobs prove they are alive, and when a silent one counts as lost."""

    heartbeat_seconds: float = 5.0  # a running job touches its row this often
    stale_seconds: float = 60.0  # no heartbeat for this long: its worker is gone, run it again
    max_deliveries: int = 3  # a job started this many times without ending fails (an OOM loop)

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_seconds * 2 <= self.stale_seconds:
            raise ConfigError("a job's stale time must be at least twice its heartbeat interval")
        if self.max_deliveries < 1:
            raise ConfigError("WORKBENCH_JOB_MAX_DELIVERIES must be at least 1")


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).expanduser().absolute())
        object.__setattr__(self, "report_notebooks", Path(self.report_notebooks).expanduser().absolute())
        if self.report_keep < 1:
            raise ConfigError("WORKBENCH_REPORT_KEEP must be at least 1 (the report just made)")
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))
        if not self.user.strip():
            raise ConfigError("WORKBENCH_USER is empty: set it to a user name or unset it")

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
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            data_dir=Path(env.get("WORKBENCH_DATA_DIR") or DEFAULT_DATA_DIR),
            database_url=env.get("WORKBENCH_DATABASE_URL", ""),
            broker_url=env.get("WORKBENCH_BROKER_URL", ""),
            result_backend=env.get("WORKBENCH_RESULT_BACKEND", ""),
            user=env.get("WORKBENCH_USER") or _login_name(),
            jobs=JobTimings(
                heartbeat_seconds=_number(env, "WORKBENCH_JOB_HEARTBEAT_SECONDS", 5.0),
                stale_seconds=_number(env, "WORKBENCH_JOB_STALE_SECONDS", 60.0),
                max_deliveries=int(_number(env, "WORKBENCH_JOB_MAX_DELIVERIES", 3)),
            ),
            report_notebooks=Path(env.get("WORKBENCH_REPORT_NOTEBOOKS") or DEFAULT_REPORT_NOTEBOOKS),
            report_keep=int(_number(env, "WORKBENCH_REPORT_KEEP", 10)),
        )

    def environ(self) -> dict[str, str]:
        """These settings as the variables a child process (a worker) reads them from."""
        return {
            "WORKBENCH_DATA_DIR": str(self.data_dir),
            "WORKBENCH_DATABASE_URL": self.database_url,
            "WORKBENCH_BROKER_URL": self.broker_url,
            "WORKBENCH_RESULT_BACKEND": self.result_backend,
            "WORKBENCH_USER": self.user,
            "WORKBENCH_JOB_HEARTBEAT_SECONDS": str(self.jobs.heartbeat_seconds),
            "WORKBENCH_JOB_STALE_SECONDS": str(self.jobs.stale_seconds),
            "WORKBENCH_JOB_MAX_DELIVERIES": str(self.jobs.max_deliveries),
            "WORKBENCH_REPORT_NOTEBOOKS": str(self.report_notebooks),
            "WORKBENCH_REPORT_KEEP": str(self.report_keep),
        }


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


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"{name}={text!r} is not a number") from None


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary uid in a container
        return "local"
