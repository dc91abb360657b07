"""`workbench hub` says, before starting, when people's servers could not reach its Python."""

from __future__ import annotations

from pathlib import Path

from workbench.hub.run import _closed_folders


def test_a_folder_only_its_owner_may_enter_is_named(tmp_path: Path) -> None:
    closed, inner = tmp_path / "closed", tmp_path / "closed" / "venv" / "bin"
    inner.mkdir(parents=True)
    python = inner / "python"
    python.write_text("")
    closed.chmod(0o700)

    def below_tmp(folders: list[Path]) -> list[Path]:  # pytest's own base folder may be closed too
        return [folder for folder in folders if tmp_path in folder.parents]

    assert below_tmp(_closed_folders(python)) == [closed]
    closed.chmod(0o711)
    assert below_tmp(_closed_folders(python)) == []
