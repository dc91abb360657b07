"""Several hosts on one machine, for real: network namespaces joined by a bridge, each host with
its own data directory and no view of the others', reaching Postgres, RabbitMQ, Redis and the
object store only over the bridge. Needs root (CI runs as root).

The services listen on the bridge's address too while the harness runs: Redis and RabbitMQ are
told at run time (``CONFIG SET bind``, a TCP listener added through ``rabbitmqctl eval``),
Postgres by ``ALTER SYSTEM`` and a restart, with a pg_hba line for the bridge's subnet. All of it
is undone when the block ends, whatever happens, and a harness that was killed is cleaned up by
the next one's start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from tests.seaweedfs import S3Server, seaweedfs
from tests.services import REPO, rabbitmqctl
from workbench.config import Settings

BRIDGE, GATEWAY, SUBNET = "wbhosts0", "10.77.0.1", "10.77.0.0/24"
HBA_MARK = "# workbench-test-hosts"
PG_CLUSTER = ("15", "main")
POSTGRES_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def sh(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)


@dataclass
class Host:
    """One namespace host: its name, address and data directory."""

    name: str
    address: str
    data_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def netns(self) -> str:
        return f"wbh-{self.name}"

    def run(
        self, argv: list[str], env: dict[str, str], hidden: list[Path], log: Path
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on this host: in its network namespace, with every path in ``hidden``
        (the other hosts' data directories) covered by an empty tmpfs in its own mount namespace."""
        covers = " && ".join(f"mount -t tmpfs -o size=1m,mode=000 hidden {path}" for path in hidden)
        script = f'{covers + " && " if covers else ""}exec "$@"'
        command = ["ip", "netns", "exec", self.netns, "sh", "-c", script, "host", *argv]
        with open(log, "ab") as output:
            process = subprocess.Popen(
                command, env=env, cwd=REPO, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


@dataclass
class Network:
    hosts: dict[str, Host]
    s3: S3Server
    database_url: str
    broker_url: str
    redis_url: str

    def settings(self, host: Host, **overrides: object) -> Settings:
        return Settings(
            data_dir=host.data_dir, database_url=self.database_url, broker_url=self.broker_url,
            result_backend=self.redis_url, storage_url=f"s3://{self.s3.bucket}/hosts",
            s3_endpoint_url=self.s3.endpoint_url,
        ).with_overrides(**overrides)  # fmt: skip

    def environ(self, host: Host, settings: Settings) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("WORKBENCH_", "AWS_"))}
        return {**base, **settings.environ(), **self.s3.environ(), "PYTHONPATH": str(REPO)}

    def start(self, host: Host, settings: Settings, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """``python -m workbench.cli ARGV`` on ``host`` (as a person types ``workbench ARGV``)."""
        hidden = [other.data_dir for other in self.hosts.values() if other is not host]
        command = [sys.executable, "-m", "workbench.cli", *argv]
        return host.run(command, self.environ(host, settings), hidden, log)

    def remove(self, host: Host) -> None:
        """The host is gone: its processes killed, its namespace and link deleted."""
        host.kill_all()
        sh("ip", "netns", "del", host.netns, check=False)
        sh("ip", "link", "del", f"vh-{host.name}", check=False)


@contextmanager
def namespace_hosts(names: list[str], root: Path, database: str, vhost: str) -> Iterator[Network]:
    """Hosts ``names`` (a..d), the services reachable from them, all undone at the end."""
    if os.geteuid() != 0:
        raise PermissionError("namespace hosts need root (ip netns, mount)")
    tear_down(names)  # what a killed earlier run left
    hosts = {name: Host(name, f"10.77.0.{10 + i}", root / f"host-{name}") for i, name in enumerate(names)}
    try:
        _bridge()
        for host in hosts.values():
            host.data_dir.mkdir(parents=True)
            _add_host(host)
        _listen_on_bridge()
        # Ports of its own: the session's SeaweedFS (on loopback) may be running beside it.
        with seaweedfs(root / "seaweedfs", root / "weed.log", address=GATEWAY, port_offset=100) as s3:
            yield Network(
                hosts, s3, f"postgresql://postgres@{GATEWAY}:5432/{database}",
                f"amqp://guest:guest@{GATEWAY}:5672/{vhost}", f"redis://{GATEWAY}:6379/13",
            )  # fmt: skip
    finally:
        for host in hosts.values():
            host.kill_all()
        tear_down(names)


def tear_down(names: list[str]) -> None:
    """Hosts, bridge and service settings back as they were (safe to run any time)."""
    for name in names:
        sh("ip", "netns", "del", f"wbh-{name}", check=False)
        sh("ip", "link", "del", f"vh-{name}", check=False)
    sh("ip", "link", "del", BRIDGE, check=False)
    _stop_listening_on_bridge()


def _bridge() -> None:
    sh("ip", "link", "add", BRIDGE, "type", "bridge")
    sh("ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
    sh("ip", "link", "set", BRIDGE, "up")


def _add_host(host: Host) -> None:
    sh("ip", "netns", "add", host.netns)
    sh("ip", "link", "add", f"vh-{host.name}", "type", "veth", "peer", "name", "eth0", "netns", host.netns)
    sh("ip", "link", "set", f"vh-{host.name}", "master", BRIDGE, "up")
    inside = ["ip", "netns", "exec", host.netns]
    sh(*inside, "ip", "addr", "add", f"{host.address}/24", "dev", "eth0")
    sh(*inside, "ip", "link", "set", "eth0", "up")
    sh(*inside, "ip", "link", "set", "lo", "up")
    sh(*inside, "ip", "route", "add", "default", "via", GATEWAY)


def _hba_file() -> Path:
    return Path(f"/etc/postgresql/{PG_CLUSTER[0]}/{PG_CLUSTER[1]}/pg_hba.conf")


def _listen_on_bridge() -> None:
    redis.Redis(host="127.0.0.1").config_set("bind", f"127.0.0.1 -::1 {GATEWAY}")
    rabbitmqctl("eval", f'rabbit_networking:start_tcp_listener({{"{GATEWAY}", 5672}}, 10).')
    hba = _hba_file()
    hba.write_text(hba.read_text() + f"host all all {SUBNET} trust {HBA_MARK}\n")
    _postgres(f"ALTER SYSTEM SET listen_addresses = '127.0.0.1,{GATEWAY}'")
    _restart_postgres()


def _stop_listening_on_bridge() -> None:
    with contextlib.suppress(Exception):
        redis.Redis(host="127.0.0.1").config_set("bind", "127.0.0.1 -::1")
    with contextlib.suppress(Exception):
        rabbitmqctl("eval", f'rabbit_networking:stop_tcp_listener({{"{GATEWAY}", 5672}}).')
    hba = _hba_file()
    lines = hba.read_text().splitlines(keepends=True)
    changed = any(HBA_MARK in line for line in lines)
    if changed:
        hba.write_text("".join(line for line in lines if HBA_MARK not in line))
    if _postgres("SELECT count(*) FROM pg_file_settings WHERE name = 'listen_addresses' "
                 "AND sourcefile LIKE '%postgresql.auto.conf'") or changed:  # fmt: skip
        _postgres("ALTER SYSTEM RESET listen_addresses")
        _restart_postgres()


def _postgres(statement: str) -> int:
    engine = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            result = connection.execute(text(statement))
            return int(result.scalar_one()) if result.returns_rows else 0
    finally:
        engine.dispose()


def _restart_postgres() -> None:
    version, cluster = PG_CLUSTER
    sh("pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart")
    deadline = time.monotonic() + 60
    while sh("pg_isready", "-h", "127.0.0.1", "-q", check=False).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("Postgres did not come back after its restart")
        time.sleep(0.2)
