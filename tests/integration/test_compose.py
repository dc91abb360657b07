"""docker-compose.yaml: Debian's docker-compose accepts it, and it says what the design needs.

Only `docker-compose config` runs (it parses, validates and interpolates the file; no Docker engine
is needed). Without the docker-compose binary these tests are skipped with the reason, unless
WORKBENCH_REQUIRE_SERVICES=1 (CI sets it), where that is a failure. CI installs it with
`apt-get install -y --no-install-recommends docker-compose`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
REQUIRE_SERVICES = os.environ.get("WORKBENCH_REQUIRE_SERVICES") == "1"

# Distinctive values, so that any password in the rendered file can be traced to its variable.
SECRETS = {
    "POSTGRES_PASSWORD": "pg-sentinel-5b0e1c",
    "RABBITMQ_PASSWORD": "mq-sentinel-93d7aa",
    "S3_SECRET_KEY": "s3-sentinel-4f1a2b",
    "SERVICE_DB_PASSWORD": "svc-sentinel-77c2e0",
    "FLOWER_PASSWORD": "fl-sentinel-0d9b31",
    "METRICS_PASSWORD": "me-sentinel-61f0a4",
    "PROMETHEUS_PASSWORD": "pr-sentinel-c3e9d2",
}

SERVICES = {
    "postgres",
    "rabbitmq",
    "redis",
    "seaweedfs",
    "imagery-worker",
    "torch-worker",
    "beat",
    "db-roles",
    "hub",
    "flower",
    "prometheus",
}
WORKBENCH_SERVICES = {"imagery-worker", "torch-worker", "beat", "hub"}
WORKERS = {"imagery-worker", "torch-worker", "beat"}  # on the catalog as the service role
BACKING_SERVICES = {"postgres", "rabbitmq", "redis", "seaweedfs"}
NAMED_VOLUMES = {
    "postgres-data", "rabbitmq-data", "seaweedfs-data", "beat-data", "hub-state", "hub-homes",
    "prometheus-data",
}  # fmt: skip
PUBLISHED = {"hub": 8000, "flower": 5555, "prometheus": 9090}  # the REST API is behind the hub
SECRET_KEY = re.compile(r"PASS|SECRET|TOKEN", re.IGNORECASE)


@pytest.fixture(scope="module")
def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path is None:
        message = (
            "docker-compose is not installed (apt-get install -y --no-install-recommends docker-compose)"
        )
        if REQUIRE_SERVICES:
            pytest.fail(message + "; WORKBENCH_REQUIRE_SERVICES=1 makes this a failure")
        pytest.skip(message)
    return path


def compose(
    docker_compose: str, tmp: Path, *args: str, variables: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run docker-compose on the repository's file with exactly ``variables`` and nothing else.

    The environment is built from scratch and ``--env-file`` points at an empty file, so neither the
    caller's shell nor a developer's own .env beside the compose file can supply a password.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LANG": "C.UTF-8"}
    env.update(variables)
    command = [docker_compose, "--project-directory", str(ROOT), "--file", str(COMPOSE_FILE)]
    command += ["--env-file", str(tmp / "empty.env"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def runs(
    docker_compose: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every docker-compose run the tests look at, each run once and all started together: every run
    spends seconds of CPU importing docker-compose's own Python modules.
    """
    tmp = tmp_path_factory.mktemp("compose")
    (tmp / "empty.env").write_text("")
    gpu_override = str(ROOT / "docker" / "docker-compose.gpu.yaml")
    plan: dict[str, tuple[list[str], dict[str, str]]] = {
        "config": (["config"], SECRETS),
        "gpu": (["--file", gpu_override, "config"], {**SECRETS, "TORCH_VARIANT": "gpu"}),
    }
    for name in SECRETS:
        plan[f"without {name}"] = (["config"], {k: v for k, v in SECRETS.items() if k != name})
    with ThreadPoolExecutor(max_workers=len(plan)) as pool:
        futures = {
            key: pool.submit(compose, docker_compose, tmp, *args, variables=variables)
            for key, (args, variables) in plan.items()
        }
    return {key: future.result() for key, future in futures.items()}


@pytest.fixture(scope="module")
def rendered(runs: dict[str, subprocess.CompletedProcess[str]]) -> str:
    done = runs["config"]
    assert done.returncode == 0, f"docker-compose config failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def config(rendered: str) -> dict[str, Any]:
    parsed = load_yaml(rendered)
    assert isinstance(parsed, dict)
    return parsed


def test_the_file_is_accepted_with_the_expected_services_and_volumes(config: dict[str, Any]) -> None:
    assert set(config["services"]) == SERVICES
    assert set(config["volumes"]) >= NAMED_VOLUMES


def test_no_top_level_name_key() -> None:
    """Debian's docker-compose v1 rejects a top-level `name:`; the project name is the folder's."""
    top_level_keys = re.findall(r"^([A-Za-z_][\w-]*):", COMPOSE_FILE.read_text(), flags=re.MULTILINE)
    assert "name" not in top_level_keys


def test_every_service_has_a_healthcheck(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    tests = {name: " ".join(_as_list(s["healthcheck"]["test"])) for name, s in config["services"].items()}
    assert "pg_isready" in tests["postgres"]
    assert "rabbitmq-diagnostics" in tests["rabbitmq"] and "ping" in tests["rabbitmq"]
    assert "redis-cli ping" in tests["redis"]


def test_workbench_services_wait_for_healthy_backing_services(config: dict[str, Any]) -> None:
    for name in WORKBENCH_SERVICES:
        depends_on = config["services"][name]["depends_on"]
        assert isinstance(depends_on, dict), f"{name}: depends_on has no conditions"
        for backing in BACKING_SERVICES:
            assert depends_on[backing]["condition"] == "service_healthy", (name, backing)
        assert depends_on["db-roles"]["condition"] == "service_completed_successfully", name


def test_published_ports_are_bound_to_localhost_only(config: dict[str, Any]) -> None:
    published: dict[str, set[int]] = {}
    for name, service in config["services"].items():
        for port in service.get("ports", []):
            host_ip, host_port, target = _port(port)
            assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond this machine"
            assert host_port, f"{name} publishes {port!r} on a random host port"
            published.setdefault(name, set()).add(target)
    for name, target in PUBLISHED.items():
        assert target in published.get(name, set()), f"{name} does not publish {target}"
    assert not published.keys() & {"postgres", "redis"}, "database and cache stay on the compose network"


def test_volumes_and_initialisation(config: dict[str, Any]) -> None:
    services = config["services"]
    assert ("postgres-data", "/var/lib/postgresql/data") in _mounts(services["postgres"])
    assert ("rabbitmq-data", "/var/lib/rabbitmq") in _mounts(services["rabbitmq"])
    schema = str(ROOT / "sql" / "schema.sql")
    assert any(
        source == schema and target.startswith("/docker-entrypoint-initdb.d/")
        for source, target in _mounts(services["postgres"])
    ), "sql/schema.sql is not an init script of postgres"
    # RabbitMQ keeps its data under its node name, rabbit@<hostname>: a random hostname loses it.
    assert services["rabbitmq"]["hostname"] == "rabbitmq"
    # No disk is shared: what crosses processes goes through the object store, so any workbench
    # service may run on another machine.
    for name in WORKBENCH_SERVICES:
        data_dir = services[name]["environment"]["WORKBENCH_DATA_DIR"]
        others = {source for other in WORKBENCH_SERVICES - {name} for source, _ in _mounts(services[other])}
        shared = {source for source, target in _mounts(services[name]) if target == data_dir} & others
        assert not shared, f"{name}: its data directory is shared with another service"


def test_workbench_services_point_at_the_services(config: dict[str, Any]) -> None:
    services = config["services"]
    for name in WORKBENCH_SERVICES:
        env = services[name]["environment"]
        broker = urlsplit(env["WORKBENCH_BROKER_URL"])
        backend = urlsplit(env["WORKBENCH_RESULT_BACKEND"])
        assert (broker.scheme, broker.hostname) == ("amqp", "rabbitmq"), name
        assert broker.password == SECRETS["RABBITMQ_PASSWORD"], name
        assert (backend.scheme, backend.hostname) == ("redis", "redis"), name
        assert env["WORKBENCH_DATA_DIR"].startswith("/"), name
        assert env["WORKBENCH_STORAGE_URL"].startswith("s3://"), name
        assert urlsplit(env["WORKBENCH_S3_ENDPOINT_URL"]).hostname == "seaweedfs", name
        assert env["AWS_SECRET_ACCESS_KEY"] == SECRETS["S3_SECRET_KEY"], name
    # Workers log in as the service role, never as the catalog's owner (a superuser in the image,
    # which no policy binds); the hub and db-roles use the owner to make roles.
    for name, variable in [
        *((w, "WORKBENCH_DATABASE_URL") for w in WORKERS),
        ("hub", "WORKBENCH_HUB_REST_DATABASE_URL"),
    ]:
        database = urlsplit(services[name]["environment"][variable])
        assert (database.scheme, database.hostname) == ("postgresql", "postgres"), name
        assert (database.username, database.password) == ("workbench_service", SECRETS["SERVICE_DB_PASSWORD"])
    owner = urlsplit(services["hub"]["environment"]["WORKBENCH_HUB_DATABASE_URL"])
    assert owner.password == SECRETS["POSTGRES_PASSWORD"]
    assert "WORKBENCH_DATABASE_URL" not in services["hub"]["environment"]  # each person gets their own
    assert services["db-roles"]["environment"]["WORKBENCH_DATABASE_URL"] == owner.geturl()
    assert "prepare" in " ".join(_as_list(services["db-roles"]["command"]))


def test_nothing_is_served_without_a_login(config: dict[str, Any]) -> None:
    """The hub (its image runs `workbench hub`: every page but /hub/health asks for a login, and
    sign-ups wait for the administrator), Flower with its own login, RabbitMQ's management UI with
    RabbitMQ's users; the object store hands out per-person keys (IAM writable)."""
    services = config["services"]
    assert services["hub"]["build"]["dockerfile"] == "docker/hub.Dockerfile"
    assert services["hub"]["environment"]["WORKBENCH_HUB_ADMIN"]
    assert "/hub/health" in " ".join(_as_list(services["hub"]["healthcheck"]["test"]))
    flower = services["flower"]["environment"]["FLOWER_BASIC_AUTH"]
    assert flower.split(":", 1)[1] == SECRETS["FLOWER_PASSWORD"]
    assert "-s3.iam.readOnly=false" in _as_list(services["seaweedfs"]["command"])
    # Metrics only with a login: the workers' and the API's endpoints, and Prometheus' own pages.
    for name in ("imagery-worker", "torch-worker", "hub"):
        assert services[name]["environment"]["WORKBENCH_METRICS_PASSWORD"] == SECRETS["METRICS_PASSWORD"]
    assert services["prometheus"]["environment"]["PROMETHEUS_PASSWORD"] == SECRETS["PROMETHEUS_PASSWORD"]


def test_workers_consume_their_queues(config: dict[str, Any]) -> None:
    imagery = _as_list(config["services"]["imagery-worker"]["command"])
    torch = _as_list(config["services"]["torch-worker"]["command"])
    assert imagery[:4] == ["celery", "-A", "workers.app", "worker"]
    assert torch[:4] == ["celery", "-A", "workers.app", "worker"]
    assert _option(imagery, "--queues", "-Q") == "imagery"
    assert _option(imagery, "--pool", "-P") == "threads"  # its jobs fork their own process pool
    assert set(_option(torch, "--queues", "-Q").split(",")) == {"training", "inference"}
    # One task at a time on the torch worker (one training job per device), each in a child
    # process replaced after it (decision #82).
    assert _option(torch, "--pool", "-P") == "prefork"
    assert _option(torch, "--concurrency", "-c") == "1"


def test_beat_runs_the_report_schedule_as_the_notebooks_user(config: dict[str, Any]) -> None:
    beat = config["services"]["beat"]
    assert _as_list(beat["command"])[:2] == ["workbench", "scheduler"]
    schedule = _option(_as_list(beat["command"]), "--schedule")
    assert (str(ROOT / "docker" / "reports.toml"), schedule) in _mounts(beat)
    assert beat["environment"]["WORKBENCH_USER"]  # whose reports, unless an entry names its user
    for name in WORKBENCH_SERVICES:  # where every container finds the report notebooks
        assert (
            config["services"][name]["environment"]["WORKBENCH_REPORT_NOTEBOOKS"] == "/app/notebooks/reports"
        )


def test_credentials_come_only_from_variables(config: dict[str, Any], rendered: str) -> None:
    """Rendered with distinctive passwords, every credential in the file is one of them."""
    sentinels = set(SECRETS.values())
    for path, key, value in _entries(config):
        if SECRET_KEY.search(key) and value is not None:
            assert value in sentinels, f"{path}: a literal credential, not one from a variable"
        if isinstance(value, str) and "://" in value:
            password = urlsplit(value).password
            assert password is None or password in sentinels, f"{path}: a literal password in a URL"
    assert all(secret in rendered for secret in sentinels)
    # And the file itself names no password: only variables.
    source = COMPOSE_FILE.read_text()
    for line in source.splitlines():
        if SECRET_KEY.search(line.split(":", 1)[0]) and ":" in line and not line.lstrip().startswith("#"):
            value = line.split(":", 1)[1].strip().strip("\"'")
            assert not value or value.startswith("${"), f"a literal credential in docker-compose.yaml: {line}"


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_password_fails_with_a_clear_message(
    runs: dict[str, subprocess.CompletedProcess[str]], missing: str
) -> None:
    done = runs[f"without {missing}"]
    assert done.returncode != 0
    assert f"{missing} is not set" in done.stderr, done.stderr
    assert not done.stdout.strip()


def test_the_gpu_override_is_accepted(runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    done = runs["gpu"]
    assert done.returncode == 0, done.stderr
    torch = load_yaml(done.stdout)["services"]["torch-worker"]
    assert torch["build"]["args"]["TORCH_VARIANT"] == "gpu"
    devices = torch["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]


# Helpers ------------------------------------------------------------------------------------------


def _as_list(command: str | list[str]) -> list[str]:
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _option(argv: list[str], *names: str) -> str:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name:
                return argv[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    raise AssertionError(f"none of {names} in {argv}")


def _port(port: str | dict[str, Any]) -> tuple[str, str, int]:
    """(host ip, host port, container port) of a short ("ip:host:container/proto") or long port."""
    if isinstance(port, dict):
        return str(port.get("host_ip", "")), str(port.get("published", "")), int(port["target"])
    parts = str(port).split("/")[0].rsplit(":", 2)
    if len(parts) == 3:
        return parts[0], parts[1], int(parts[2])
    return "", parts[0] if len(parts) == 2 else "", int(parts[-1])


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            mounts.append((str(volume.get("source", "")), str(volume["target"])))
        else:
            source, target = str(volume).split(":")[:2]
            mounts.append((source, target))
    return mounts


def _entries(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) of the document; list items have the key of their list."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _entries(value, f"{path}.{key}")
            if not isinstance(value, dict | list):
                yield f"{path}.{key}", str(key), value
    elif isinstance(node, list):
        key = path.rsplit(".", 1)[-1]
        for i, value in enumerate(node):
            yield from _entries(value, f"{path}[{i}]")
            if not isinstance(value, dict | list):
                yield f"{path}[{i}]", key, value


def load_yaml(text: str) -> Any:
    return yaml.safe_load(text)
