"""Serving the dashboard with Voila: the command line, the folder it serves from, and running it.

The folder (``DATA_DIR/dashboard``) holds a fresh copy of ``notebooks/dashboard.ipynb``, the
widgets' log and ``downloads/``, where export files are hard-linked for Voila's file handler: it
serves only files under its root that match an allow-list, and ours allows nothing else.

Load time (decisions #55-#57): a pool of ``POOL_SIZE`` preheated kernels, refilled only once the
page that took a kernel has built its widgets, and our own Voila template (``voila_template/``,
found through ``JUPYTER_PATH``) so that the page fetches nothing from outside this machine.

``run`` keeps Voila and its kernels from outliving ``workbench dashboard``: Voila runs in a process
group of its own and is told to stop (then killed, with every process it started) when the
command is stopped, and on Linux it is also sent SIGTERM should the command die unannounced.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from workbench.catalog import Catalog
from workbench.config import Settings
from workbench.errors import WorkbenchError

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard.ipynb"
TEMPLATE = Path(__file__).resolve().parent / "voila_template"
TEMPLATE_NAME = "workbench"
# Two heated kernels: a reload right after another still finds one while the first is replaced.
POOL_SIZE = 2
# Seconds before the pool replaces a kernel a page took: a new kernel's imports would otherwise
# compete with that page's widgets for the CPUs (Voila's default is 1 s).
FILL_DELAY_SECONDS = 4.0
# The browser sends an uploaded file in one websocket message; tornado's default cap is 10 MiB.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Voila shuts its kernels down itself on SIGTERM (well under a second when idle); what is still
# there after this long is killed.
STOP_GRACE_SECONDS = 3.0


def prepare_root(settings: Settings) -> Path:
    if not NOTEBOOK.exists():
        raise WorkbenchError(f"{NOTEBOOK} is missing: the dashboard runs from a checkout of workbench")
    root = settings.data_dir.resolve() / "dashboard"
    (root / "downloads").mkdir(parents=True, exist_ok=True)
    # The pool's kernels all open the catalog at launch (widgets/preheat.py): a new embedded
    # catalog's schema is made here, once, or each of them would try to create it.
    Catalog(settings).engine.dispose()
    shutil.copyfile(NOTEBOOK, root / "dashboard.ipynb")
    shutil.copytree(TEMPLATE, _templates(root) / TEMPLATE_NAME, dirs_exist_ok=True)
    # Voila reads voila.json from its working directory; tornado wants this setting as a number,
    # which a command-line Dict option would hand it as a string.
    settings_file = {"Voila": {"tornado_settings": {"websocket_max_message_size": MAX_UPLOAD_BYTES}}}
    (root / "voila.json").write_text(json.dumps(settings_file, indent=2))
    return root


def voila_command(
    root: Path, *, port: int, open_browser: bool = False, preheat: bool = True,
    pool_size: int = POOL_SIZE, cull_idle_seconds: int = 600, cull_interval_seconds: int = 60,
) -> list[str]:  # fmt: skip
    """Run it with ``root`` as the working directory (after ``prepare_root``). Bound to
    127.0.0.1, sources stripped, tracebacks hidden (they go to dashboard.log), idle kernels
    culled: Voila 0.5 never shuts down a closed page's kernel itself. The command sets
    ``JUPYTER_PATH`` itself (through ``env``) so that every launcher finds our template."""
    data_folders = [str(_templates(root).parents[1]), os.environ.get("JUPYTER_PATH")]
    jupyter_path = os.pathsep.join(folder for folder in data_folders if folder)
    command = [
        "env", f"JUPYTER_PATH={jupyter_path}",
        sys.executable, "-m", "voila", str(root / "dashboard.ipynb"), f"--template={TEMPLATE_NAME}",
        f"--port={port}", "--Voila.ip=127.0.0.1", "--strip_sources=True", "--show_tracebacks=False",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
        f"--MappingKernelManager.cull_interval={cull_interval_seconds}",
        "--VoilaConfiguration.file_allowlist=downloads/.*",
    ]  # fmt: skip
    if preheat:
        command += [
            "--preheat_kernel=True", f"--pool_size={pool_size}",
            f"--VoilaKernelManager.fill_delay={FILL_DELAY_SECONDS}",
        ]  # fmt: skip
    if not open_browser:
        command.append("--no-browser")
    return command


def _templates(root: Path) -> Path:
    """Where Voila looks for templates in a Jupyter data folder of ``root``'s."""
    return root / "jupyter" / "voila" / "templates"


class _Stopped(Exception):
    """This process was told to stop (SIGTERM, SIGINT, SIGHUP)."""


def run(command: list[str], root: Path) -> int:
    """Run Voila in the foreground until it ends or this process is told to stop; either way
    Voila and its kernels are gone when this returns (``stop_tree``). Voila's exit status, or 0
    when stopped on request."""
    voila = subprocess.Popen(
        command, cwd=root, start_new_session=True, preexec_fn=_die_with_parent(os.getpid())
    )
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS}
    try:
        return voila.wait()
    except _Stopped:
        return 0
    finally:
        for sig in STOP_SIGNALS:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        stop_tree(voila)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stop_tree(process: subprocess.Popen[bytes], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM ``process``'s group, wait up to ``grace`` seconds, then SIGKILL what is left of it
    and of its kernels: they run in sessions of their own, out of the group's reach, and an
    orphan no longer shows whose it was, so they are listed first. A process that left its
    kernel's session on purpose lives on: the local worker a kernel started runs its jobs on."""
    family = _kernels_and_theirs(process.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for pid, started in family:
        if _start_time(pid) == started:  # still that process, not a new one with its number
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signal.Signals(signum).name)


def _die_with_parent(parent: int) -> Callable[[], None] | None:
    """For ``preexec_fn`` on Linux: the child gets SIGTERM when ``parent`` dies, even killed."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        return None  # not Linux: a stopped command still stops Voila, a killed one cannot

    def arm() -> None:
        prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before it was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def _kernels_and_theirs(root: int) -> list[tuple[int, int]]:
    """``root``'s children (its kernels) and, below them, the processes still in the session of
    ``root`` or of one of those children, as (pid, start time); empty without /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat_fields(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    direct = children.get(root, [])
    sessions = {_session(pid) for pid in [root, *direct]} - {None}
    found, todo = [], list(direct)
    while todo:
        pid = todo.pop()
        started = _start_time(pid)
        if started is not None and (pid in direct or _session(pid) in sessions):
            found.append((pid, started))
            todo += children.get(pid, [])
    return found


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces): state, ppid, ..."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if len(fields) > 19 else None


def _session(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[3]) if len(fields) > 3 else None
