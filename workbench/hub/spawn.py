"""Before a person's server starts (JupyterHub's ``pre_spawn_hook``): their own Linux account, a
fresh password for their catalog login, the dashboard notebook in their home, and the
environment their server gets. Nothing of the hub's own (its administrator's database address)
reaches it: LocalProcessSpawner passes only what is set here and a few locale variables."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

from workbench.catalog import db, roles
from workbench.errors import ConfigError
from workbench.hub.objects import object_store_identity
from workbench.hub.settings import HubSettings

ACCOUNT_MARK = "workbench hub user"  # the GECOS field of accounts the hub made: only those are used
# Settings a person's server must not take from the hub: these are theirs, or the operators'.
PERSONAL = ("WORKBENCH_USER", "WORKBENCH_DATABASE_URL", "WORKBENCH_DATA_DIR", "WORKBENCH_METRICS_PASSWORD",
            "WORKBENCH_METRICS_PORT", "WORKBENCH_PROMETHEUS_URL")  # fmt: skip


def prepare_server(spawner: Any) -> None:
    hub = HubSettings.from_env()
    name = roles.check_user_name(spawner.user.name)
    account = ensure_account(name, hub.homes)
    password = secrets.token_urlsafe(24)  # a new one each start: nothing to store or leak later
    engine = db.make_engine(hub.admin_database_url)
    try:
        roles.add_user(engine, name, password, group=hub.group_role, service=hub.service_role)
    finally:
        engine.dispose()
    home = Path(account.pw_dir)
    _give(hub.dashboard, home / "dashboard.ipynb", account)
    spawner.environment.update(server_environment(hub, name, password, home))
    spawner.environment.update(object_store_identity(hub, name))


def server_environment(hub: HubSettings, name: str, password: str, home: Path) -> dict[str, str]:
    shared = {key: value for key, value in hub.shared.environ().items() if key not in PERSONAL}
    return {
        **shared,
        "WORKBENCH_USER": name,
        "WORKBENCH_DATABASE_URL": hub.database_url_for(name, password),
        "WORKBENCH_DATA_DIR": str(home / ".workbench"),  # this person's cache; blobs are in the store
    }


def ensure_account(name: str, homes: Path) -> pwd.struct_passwd:
    """``name``'s Linux account, made the first time. An account of that name the hub did not
    make (root, postgres, a colleague's login) is refused: the server would run as it."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--home-dir", str(homes / name), "--shell", "/bin/bash",
             "--user-group", "--comment", ACCOUNT_MARK, name],
            check=True, capture_output=True,
        )  # fmt: skip
        account = pwd.getpwnam(name)
    if account.pw_gecos != ACCOUNT_MARK:
        raise ConfigError(
            f"the Linux account {name!r} exists and was not made by the hub: choose another user name"
        )
    return account


def remove_account(name: str) -> None:
    """The account and its home (a test's users, or a person removed for good)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return
    if account.pw_gecos == ACCOUNT_MARK:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def _give(source: Path, target: Path, account: pwd.struct_passwd) -> None:
    shutil.copyfile(source, target)
    os.chown(target, account.pw_uid, account.pw_gid)
