"""A dashboard served by Voila for real, and headless Chromium to drive it (Debian's
/usr/bin/chromium through Playwright; never `playwright install`)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.widgets.serve import prepare_root, voila_command

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def jupyter_env(home: Path, settings: Settings) -> dict[str, str]:
    """Jupyter, IPython and matplotlib write caches under $HOME: all of it goes to ``home``."""
    home.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env |= settings.environ() | {
        "HOME": str(home), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTER_DATA_DIR": str(home / "data"), "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "mpl"), "MPLBACKEND": "Agg",
    }  # fmt: skip
    return env


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    root: Path

    def kernels(self) -> int:
        """Kernel processes this Voila started (a preheated one included)."""
        found = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                status = (entry / "status").read_text()
                parent = int(
                    next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1]
                )
                if parent == self.process.pid and b"ipykernel_launcher" in (entry / "cmdline").read_bytes():
                    found += 1
        return found


@contextlib.contextmanager
def dashboard(settings: Settings, home: Path, **options: object) -> Iterator[Served]:
    """Voila serving the dashboard on a free port until the block ends (the whole process group
    is stopped then, kernels included, even when the test failed)."""
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    root = prepare_root(settings)
    command = voila_command(root, port=port, **options)  # type: ignore[arg-type]
    log = (home / f"voila-{port}.log").open("wb")
    process = subprocess.Popen(
        command, cwd=root, env=jupyter_env(home, settings), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Voila did not start: {(home / f'voila-{port}.log').read_text()[-2000:]}")
            time.sleep(0.2)
        yield Served(f"http://127.0.0.1:{port}/", process, root)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[object]:
    """A headless Chromium browser (Playwright's Browser), launched with ``extra_args`` too."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()
