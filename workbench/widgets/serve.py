"""Serving the dashboard with Voila: the command line, and the folder it serves from.

The folder (``DATA_DIR/dashboard``) holds a fresh copy of ``notebooks/dashboard.ipynb``, the
widgets' log and ``downloads/``, where export files are hard-linked for Voila's file handler: it
serves only files under its root that match an allow-list, and ours allows nothing else.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from workbench.config import Settings
from workbench.errors import WorkbenchError

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "dashboard.ipynb"
# The browser sends an uploaded file in one websocket message; tornado's default cap is 10 MiB.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024


def prepare_root(settings: Settings) -> Path:
    if not NOTEBOOK.exists():
        raise WorkbenchError(f"{NOTEBOOK} is missing: the dashboard runs from a checkout of workbench")
    root = settings.data_dir.resolve() / "dashboard"
    (root / "downloads").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(NOTEBOOK, root / "dashboard.ipynb")
    # Voila reads voila.json from its working directory; tornado wants this setting as a number,
    # which a command-line Dict option would hand it as a string.
    settings_file = {"Voila": {"tornado_settings": {"websocket_max_message_size": MAX_UPLOAD_BYTES}}}
    (root / "voila.json").write_text(json.dumps(settings_file, indent=2))
    return root


def voila_command(
    root: Path, *, port: int, open_browser: bool = False, preheat: bool = True, pool_size: int = 1,
    cull_idle_seconds: int = 600, cull_interval_seconds: int = 60,
) -> list[str]:  # fmt: skip
    """Run it with ``root`` as the working directory. Bound to 127.0.0.1, sources stripped,
    tracebacks hidden (they go to dashboard.log), idle kernels culled: Voila 0.5 never shuts down
    a closed page's kernel itself."""
    command = [
        sys.executable, "-m", "voila", str(root / "dashboard.ipynb"),
        f"--port={port}", "--Voila.ip=127.0.0.1", "--strip_sources=True", "--show_tracebacks=False",
        f"--MappingKernelManager.cull_idle_timeout={cull_idle_seconds}",
        f"--MappingKernelManager.cull_interval={cull_interval_seconds}",
        "--VoilaConfiguration.file_allowlist=downloads/.*",
    ]  # fmt: skip
    if preheat:
        command += ["--preheat_kernel=True", f"--pool_size={pool_size}"]
    if not open_browser:
        command.append("--no-browser")
    return command
