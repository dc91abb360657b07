"""Stopping Voila's process tree: its kernels and what they run go with it; a process a kernel
detached on purpose (the local worker, in a session of its own) stays, its jobs with it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from workbench.widgets.serve import stop_tree

# Voila's part: a kernel in a session of its own (as jupyter_client starts one), then wait.
SERVER = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], start_new_session=True)
time.sleep(600)
"""
# The kernel's part: a cell's subprocess beside a detached local worker.
KERNEL = """
import json, os, subprocess, sys, time
cell = subprocess.Popen(["sleep", "600"])
worker = subprocess.Popen(["sleep", "600"], start_new_session=True)
with open(sys.argv[1] + ".tmp", "w") as out:
    json.dump({"kernel": os.getpid(), "cell": cell.pid, "worker": worker.pid}, out)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
"""


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its exit status waits to be collected


def test_the_kernels_go_and_a_detached_worker_stays(tmp_path: Path) -> None:
    pids_file = tmp_path / "pids.json"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, KERNEL, str(pids_file)], start_new_session=True
    )  # fmt: skip
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 60
        while not pids_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = json.loads(pids_file.read_text())
        stop_tree(server, grace=5)
        assert server.returncode == -signal.SIGTERM
        deadline = time.monotonic() + 10  # SIGKILL is sent; the kernel's end is seen at once
        while (running(pids["kernel"]) or running(pids["cell"])) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(pids["kernel"]) and not running(pids["cell"])
        assert running(pids["worker"])
    finally:
        for pid in [server.pid, *pids.values()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.wait(timeout=30)
