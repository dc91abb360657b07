"""JupyterHub's configuration for a team server, made from ``HubSettings``: loaded by the file
``workbench hub`` writes (``c = get_config(); configure(c)``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from workbench.hub.auth import WorkbenchAuthenticator
from workbench.hub.settings import HubSettings
from workbench.hub.spawn import prepare_server

FAILED_LOGINS_BEFORE_LOCK = 5
LOCK_SECONDS = 600
MINIMUM_PASSWORD_LENGTH = 10
API_SERVICE = "workbench-api"


def configure(c: Any, hub: HubSettings | None = None) -> None:
    hub = hub or HubSettings.from_env()
    hub.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Sign-up, an administrator's approval, password rules, a lock after failed logins.
    c.JupyterHub.authenticator_class = WorkbenchAuthenticator
    c.NativeAuthenticator.open_signup = False
    c.NativeAuthenticator.minimum_password_length = MINIMUM_PASSWORD_LENGTH
    c.NativeAuthenticator.check_common_password = True
    c.NativeAuthenticator.allowed_failed_logins = FAILED_LOGINS_BEFORE_LOCK
    c.NativeAuthenticator.seconds_before_next_try = LOCK_SECONDS
    c.Authenticator.admin_users = {hub.admin}
    c.Authenticator.allow_all = True  # NativeAuthenticator lets in only approved users
    # Each person's server as their own Linux account (SimpleLocalProcessSpawner isolates nobody).
    c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.notebook_dir = "~"
    c.Spawner.pre_spawn_hook = prepare_server
    c.Spawner.http_timeout = 120  # a first start imports the scientific stack
    c.Spawner.start_timeout = 120
    # Addresses: people reach the proxy; the hub's API and the proxy's stay on loopback.
    c.JupyterHub.bind_url = f"http://{hub.ip}:{hub.port}"
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = hub.hub_port
    c.ConfigurableHTTPProxy.command = [str(hub.proxy)]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.proxy_api_port}"
    c.JupyterHub.db_url = f"sqlite:///{hub.state_dir / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(hub.state_dir / "cookie_secret")
    c.JupyterHub.pid_file = str(hub.state_dir / "jupyterhub.pid")
    if hub.api_database_url:
        _serve_the_api(c, hub)


def _serve_the_api(c: Any, hub: HubSettings) -> None:
    """The REST API as a service the hub starts and proxies at /services/workbench-api/: browsers
    log in through the hub (OAuth), programs with personal tokens; it acts as each caller."""
    environment = {**hub.shared.environ(), "WORKBENCH_DATABASE_URL": hub.api_database_url}
    environment["WORKBENCH_DATA_DIR"] = str(hub.state_dir / "api")  # its cache: not a person's folder
    # The object store's service keys, as the hub has them (a service gets no other variables).
    environment |= {name: value for name, value in os.environ.items() if name.startswith("AWS_")}
    c.JupyterHub.services = [
        {
            "name": API_SERVICE, "url": f"http://127.0.0.1:{hub.api_port}", "display": True,
            "command": [str(Path(sys.executable).parent / "workbench"), "api", "--port", str(hub.api_port)],
            "environment": environment, "oauth_no_confirm": True,  # the team's own service
        }
    ]  # fmt: skip
    # Every person may use it (JupyterHub's default role grants no service).
    c.JupyterHub.load_roles = [{"name": "user", "scopes": ["self", f"access:services!service={API_SERVICE}"]}]
