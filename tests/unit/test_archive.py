"""Member-name checks of the zip reader: every escape route is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import builders
from workbench.config import Limits
from workbench.errors import IngestError
from workbench.ingest.archive import SafeZip, check_member_name


@pytest.mark.parametrize("name", ["cats/a.png", "a.png", "cats/sub/b.jpg", "chats/été 🐱.png", "..a/b.png"])
def test_ordinary_member_names_pass(name: str) -> None:
    check_member_name(name, Path("ok.zip"))


@pytest.mark.parametrize(
    "name",
    [
        "../a.png",
        "cats/../../a.png",
        "/etc/passwd",
        "C:/Windows/a.png",
        "c:a.png",
        "cats\\..\\..\\a.png",
        "\\\\server\\share\\a.png",
        "cats/..",
        "a\x00.png",
    ],
)
def test_escaping_member_names_are_refused_with_the_name(name: str) -> None:
    with pytest.raises(IngestError) as error:
        check_member_name(name, Path("traversal.zip"))
    assert repr(name) in str(error.value)
    assert "traversal.zip" in str(error.value)


def test_symbolic_links_are_never_members_but_are_listed(tmp_path: Path) -> None:
    archive = builders.symlink_zip(
        tmp_path / "symlinks.zip", {"cats/a.png": b"png"}, {"cats/shadow.png": "/etc/shadow"}
    )
    safe = SafeZip(archive, Limits())
    try:
        assert (list(safe.members), safe.links) == (["cats/a.png"], ["cats/shadow.png"])
    finally:
        safe.close()
