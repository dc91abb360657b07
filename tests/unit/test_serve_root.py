"""The folder Voila serves the dashboard from (``prepare_root``) and the command that runs it:
a new catalog's schema is there before the pool's kernels open it together, and Voila finds our
template (the one without links to a CDN) where the command tells it to look."""

from __future__ import annotations

import os
from pathlib import Path

from workbench.catalog import db
from workbench.config import Settings
from workbench.widgets.serve import TEMPLATE_NAME, prepare_root, voila_command


def test_a_new_catalog_has_its_schema_before_voila_starts(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url="", user="tester")
    prepare_root(settings)
    engine = db.make_engine(settings.catalog_url)
    try:
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_voila_finds_the_template_through_the_commands_jupyter_path(tmp_path: Path) -> None:
    from voila.paths import collect_template_paths

    root = prepare_root(Settings(data_dir=tmp_path / "data", database_url="", user="tester"))
    command = voila_command(root, port=8866)
    jupyter_path = next(arg for arg in command if arg.startswith("JUPYTER_PATH=")).split("=", 1)[1]
    assert f"--template={TEMPLATE_NAME}" in command
    data_folders = jupyter_path.split(os.pathsep)
    found = collect_template_paths(["voila"], TEMPLATE_NAME, prune=True, root_dirs=data_folders)
    assert Path(found[0]) == root / "jupyter" / "voila" / "templates" / TEMPLATE_NAME
    assert (Path(found[0]) / "index.html.j2").exists()
