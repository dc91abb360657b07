"""The team server for a test: `workbench hub` for real (as root, its proxy from npm), on a team
database (tests/team.py), with each person's server started as a Linux account of the test's own.
Afterwards the hub and every server are stopped, the accounts removed and /root's mode put back,
whatever happens."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.browser import free_port
from tests.team import Team
from workbench.config import Settings
from workbench.hub.spawn import remove_account

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Hub:
    url: str
    team: Team
    log: Path

    @property
    def admin(self) -> str:
        return self.team.user("admin")


@contextmanager
def running_hub(
    team: Team, shared: Settings, state: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Hub]:
    port, api_port, proxy_port, rest_port = free_port(), free_port(), free_port(), free_port()
    hub = Hub(f"http://127.0.0.1:{port}", team, state / "hub.log")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(shared.environ(), **(extra_env or {}))
    env.update(
        WORKBENCH_HUB_DATABASE_URL=team.admin_url, WORKBENCH_HUB_STATE=str(state / "hub"),
        WORKBENCH_HUB_ADMIN=hub.admin, WORKBENCH_HUB_PORT=str(port), WORKBENCH_HUB_API_PORT=str(api_port),
        WORKBENCH_HUB_PROXY_API_PORT=str(proxy_port), WORKBENCH_HUB_GROUP_ROLE=team.group,
        WORKBENCH_HUB_SERVICE_ROLE=team.service, WORKBENCH_HUB_REST_PORT=str(rest_port),
        WORKBENCH_HUB_REST_DATABASE_URL=team.url(team.service),
    )  # fmt: skip
    # The servers run as the test's accounts with this checkout's venv and its Python, which may
    # live under folders only root may enter (/root here, a mktemp folder for CI's clone): the
    # accounts may pass through them (not list them) while the test runs.
    opened = _let_everyone_through(REPO, Path(sys.executable), Path(sys.executable).resolve())
    state.mkdir(parents=True, exist_ok=True)
    with open(hub.log, "ab") as log:
        process = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "workbench"), "hub"], env=env, cwd=state, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_for(hub, process)
        yield hub
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the hub stops every server it started
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        for name in ("admin", *team.users):
            _kill_user_processes(team.user(name))
            remove_account(team.user(name))
        for folder, mode in opened.items():
            os.chmod(folder, mode)


def _let_everyone_through(*paths: Path) -> dict[Path, int]:
    """Add "others may enter" to every folder above ``paths`` that lacks it; returns the folders
    changed and their modes before, to put back."""
    changed: dict[Path, int] = {}
    for path in paths:
        for folder in path.parents:
            mode = os.stat(folder).st_mode
            if folder not in changed and not mode & stat.S_IXOTH:
                changed[folder] = mode
                os.chmod(folder, mode | stat.S_IXOTH)
    return changed


def _wait_for(hub: Hub, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the hub exited at start:\n{hub.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(hub.url + "/hub/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the hub did not answer in {timeout:.0f} s:\n{hub.log.read_text()[-3000:]}")


def _kill_user_processes(name: str) -> None:
    subprocess.run(["pkill", "-KILL", "-u", name], check=False, capture_output=True)
