"""What the hub reads from its environment (``WORKBENCH_HUB_*``, and the shared services' settings
it hands on to each person's server)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from workbench.catalog import roles
from workbench.config import Settings
from workbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]  # a checkout; an installed package names both below
PROXY = REPO / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
DASHBOARD = REPO / "notebooks" / "dashboard.ipynb"


@dataclass(frozen=True)
class HubSettings:
    admin_database_url: str  # a role that may create roles: the hub makes each person's login
    state_dir: Path  # the hub's own database, cookie secret and proxy token
    admin: str = "admin"  # the hub user who approves sign-ups
    ip: str = "127.0.0.1"
    port: int = 8000
    hub_port: int = 8081  # the hub's own API, for the proxy and the servers: loopback only
    proxy_api_port: int = 8001
    api_port: int = 8002  # the REST API behind the hub, at /services/workbench-api/: loopback only
    api_database_url: str = ""  # the API's login (the service's); empty: no API behind the hub
    group_role: str = roles.GROUP_ROLE
    service_role: str = roles.SERVICE_ROLE
    homes: Path = Path("/home")  # where each person's Linux account gets its home
    proxy: Path = PROXY  # configurable-http-proxy, from hub/package-lock.json
    dashboard: Path = DASHBOARD  # copied into each person's home
    shared: Settings = field(default_factory=Settings)  # broker, progress, object store: for every server

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HubSettings:
        env = os.environ if environ is None else environ
        admin_url = env.get("WORKBENCH_HUB_DATABASE_URL", "")
        if not admin_url.startswith("postgresql"):
            raise ConfigError(
                "the hub needs WORKBENCH_HUB_DATABASE_URL: the catalog's Postgres as a role that may "
                "create roles (it makes each person's login); the embedded default has no hub"
            )
        return cls(
            admin_database_url=admin_url,
            state_dir=Path(env.get("WORKBENCH_HUB_STATE", str(Path.cwd() / "hub-state"))),
            admin=env.get("WORKBENCH_HUB_ADMIN", "admin"),
            ip=env.get("WORKBENCH_HUB_IP", "127.0.0.1"),
            port=int(env.get("WORKBENCH_HUB_PORT", "8000")),
            hub_port=int(env.get("WORKBENCH_HUB_API_PORT", "8081")),
            proxy_api_port=int(env.get("WORKBENCH_HUB_PROXY_API_PORT", "8001")),
            api_port=int(env.get("WORKBENCH_HUB_REST_PORT", "8002")),
            api_database_url=env.get("WORKBENCH_HUB_REST_DATABASE_URL", ""),
            group_role=env.get("WORKBENCH_HUB_GROUP_ROLE", roles.GROUP_ROLE),
            service_role=env.get("WORKBENCH_HUB_SERVICE_ROLE", roles.SERVICE_ROLE),
            homes=Path(env.get("WORKBENCH_HUB_HOMES", "/home")),
            proxy=Path(env.get("WORKBENCH_HUB_PROXY", str(PROXY))),
            dashboard=Path(env.get("WORKBENCH_HUB_DASHBOARD", str(DASHBOARD))),
            shared=Settings.from_env(env),
        )

    def database_url_for(self, user: str, password: str) -> str:
        """The catalog as ``user`` logs in: the administrator's address with the user's login."""
        url = make_url(self.admin_database_url).set(username=user, password=password)
        return url.render_as_string(hide_password=False)

    def environ(self) -> dict[str, str]:
        """The hub's own settings as variables, for ``jupyterhub -f`` to read back."""
        return {
            "WORKBENCH_HUB_DATABASE_URL": self.admin_database_url,
            "WORKBENCH_HUB_STATE": str(self.state_dir),
            "WORKBENCH_HUB_ADMIN": self.admin,
            "WORKBENCH_HUB_IP": self.ip,
            "WORKBENCH_HUB_PORT": str(self.port),
            "WORKBENCH_HUB_API_PORT": str(self.hub_port),
            "WORKBENCH_HUB_PROXY_API_PORT": str(self.proxy_api_port),
            "WORKBENCH_HUB_REST_PORT": str(self.api_port),
            "WORKBENCH_HUB_REST_DATABASE_URL": self.api_database_url,
            "WORKBENCH_HUB_GROUP_ROLE": self.group_role,
            "WORKBENCH_HUB_SERVICE_ROLE": self.service_role,
            "WORKBENCH_HUB_HOMES": str(self.homes),
            "WORKBENCH_HUB_PROXY": str(self.proxy),
            "WORKBENCH_HUB_DASHBOARD": str(self.dashboard),
        }
