"""``workbench hub``: check what the hub needs, write its configuration file, run JupyterHub."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from workbench.errors import ConfigError
from workbench.hub.settings import HubSettings

CONFIG_FILE = """\
# Written by `workbench hub`: the configuration is workbench.hub.config, made from WORKBENCH_HUB_*.
from workbench.hub.config import configure

configure(get_config())  # noqa: F821 - JupyterHub defines get_config for this file
"""


def hub_command(hub: HubSettings) -> list[str]:
    """The command that runs the hub (from ``hub.state_dir``, with ``hub.environ()`` set)."""
    if not hub.proxy.exists():
        raise ConfigError(
            f"{hub.proxy} is missing: `make install` installs the proxy from hub/package-lock.json"
        )
    if not hub.dashboard.exists():
        raise ConfigError(
            f"{hub.dashboard} is missing: set WORKBENCH_HUB_DASHBOARD to notebooks/dashboard.ipynb"
        )
    if os.geteuid() != 0:
        raise ConfigError("the hub starts each person's server as their own Linux account: run it as root")
    closed = [str(folder) for folder in _closed_folders(Path(sys.executable), Path(sys.executable).resolve())]
    if closed:
        raise ConfigError(
            "each person's server runs as their own account and could not reach this installation's "
            f"Python: only root may enter {', '.join(closed)}. Install workbench where every account "
            "can read it (e.g. under /opt), or let others pass through (chmod o+x) those folders"
        )
    hub.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = hub.state_dir / "jupyterhub_config.py"
    config.write_text(CONFIG_FILE)
    return [sys.executable, "-m", "jupyterhub", "-f", str(config)]


def _closed_folders(*paths: Path) -> list[Path]:
    """The folders above ``paths`` that other accounts may not pass through."""
    return sorted(
        {folder for path in paths for folder in path.parents if not folder.stat().st_mode & stat.S_IXOTH}
    )
