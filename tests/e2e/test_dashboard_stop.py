"""`workbench dashboard` stopped by a signal takes its Voila server and kernels down with it: no
process of it left, and its port free for the next one (two orphans held a port before)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import services
from tests.e2e.browser import free_port, jupyter_env
from workbench.config import Settings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def processes() -> dict[int, tuple[int, str, str]]:
    """Every process now: pid -> (parent pid, state, command line), from /proc alone."""
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, IndexError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found[int(entry.name)] = (int(fields[1]), fields[0], command)
    return found


def descendants(root: int) -> set[int]:
    table = processes()
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        children = {pid for pid, (ppid, _, _) in table.items() if ppid == parent}
        found |= children
        todo += children
    return found


def alive(pids: set[int]) -> set[int]:
    """Those still running (a zombie has ended; only its exit status waits to be collected)."""
    table = processes()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


def answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def port_free(port: int) -> bool:
    """Whether a new server could listen there (with SO_REUSEADDR, as tornado binds)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.fixture
def dashboard_command(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`workbench dashboard` for real, on a free port; whatever it leaves is killed afterwards."""
    settings = Settings(data_dir=tmp_path / "data", database_url="", user="tester")
    port = free_port()
    env = jupyter_env(tmp_path / "home", settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    log = (tmp_path / "dashboard.log").open("wb")
    command = [sys.executable, "-m", "workbench.cli", "dashboard", "--port", str(port), "--no-browser"]
    process = subprocess.Popen(
        command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )  # fmt: skip
    try:
        yield process, port
    finally:
        seen = descendants(process.pid) | {
            pid for pid, (_, _, line) in processes().items() if f"--port={port}" in line
        }
        for pid in seen | {process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=30)
        log.close()


# SIGKILL cannot be handled: Voila is then told by the kernel (Linux's parent-death signal).
@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_signal_takes_voila_and_its_kernels_down(
    dashboard_command: tuple[subprocess.Popen[bytes], int], tmp_path: Path, stop: signal.Signals
) -> None:
    process, port = dashboard_command

    def kernels() -> set[int]:
        table = processes()
        below = descendants(process.pid) & set(table)
        return {pid for pid in below if "ipykernel_launcher" in table[pid][2]}

    log = tmp_path / "dashboard.log"
    services.until(lambda: process.poll() is not None or (answers(port) and kernels()), 180,
                   "Voila answering, its preheated kernel up")  # fmt: skip
    assert process.poll() is None, log.read_text()[-3000:]
    started, table = descendants(process.pid), processes()
    assert any(f"--port={port}" in table[pid][2] for pid in started & set(table))  # Voila itself
    os.kill(process.pid, stop)
    # A bound on the wait, not a figure to meet: on a loaded machine a SIGKILLed dashboard's Voila
    # took more than 5 s to hear of its parent's death and stop its kernel (a CI run, 22:45).
    deadline = time.monotonic() + 30
    while (left := alive(started)) or not port_free(port):
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"still running: {[processes().get(pid, (0, '', '?'))[2][:100] for pid in left]}"
    assert port_free(port), f"port {port} still taken"
    assert process.wait(timeout=5) == (-stop if stop == signal.SIGKILL else 0), log.read_text()[-3000:]
