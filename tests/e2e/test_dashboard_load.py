"""The dashboard's page loads in a real browser: it fetches nothing from outside this machine (it
works offline, its icons included), and reloads, even two in a row, each get their widgets from
a heated kernel of the pool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests import services
from tests.e2e.browser import Served, chromium, dashboard
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow
WIDGETS = ".workbench-tabs"
SECONDS = 1000  # Playwright counts milliseconds
ICON_FONT_LOADED = """() => [...document.fonts].some(
    face => face.family.includes("Font Awesome 5 Free") && face.status === "loaded")"""


@pytest.fixture
def settings(tmp_path: Path, digit_files: list[tuple[Path, str]]) -> Iterator[Settings]:
    """The embedded default with a few digits, so that the page shows thumbnails and plots."""
    settings = Settings(data_dir=tmp_path / "data", database_url="", user="tester")
    folder = tmp_path / "digits"
    for path, label in digit_files[:30]:
        (folder / label).mkdir(parents=True, exist_ok=True)
        (folder / label / path.name).write_bytes(path.read_bytes())
    bench = Workbench(settings)
    bench.ingest(folder, "digits")
    bench.close()
    yield settings
    services.kill_local_worker(settings)


def voila_log(served: Served, home: Path) -> str:
    return (home / f"voila-{urlsplit(served.url).port}.log").read_text()


def heated_kernels_used(served: Served, home: Path) -> int:
    """Pages Voila answered with a kernel of its pool."""
    return voila_log(served, home).count("Using pre-heated kernel")


def test_the_page_fetches_nothing_from_outside_this_machine(settings: Settings, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with dashboard(settings, home) as served, chromium() as browser:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.set_default_timeout(240 * SECONDS)
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(served.url + "?dataset=digits")
        page.wait_for_selector(WIDGETS, state="visible")
        page.get_by_role("button", name="Ingest").wait_for()  # its icon needs the font
        page.wait_for_function(ICON_FONT_LOADED)
        page.reload()
        page.wait_for_selector(WIDGETS, state="visible")
    outside = [url for url in requested if urlsplit(url).scheme not in ("blob", "data")]
    outside = [url for url in outside if urlsplit(url).hostname != "127.0.0.1"]
    assert requested and not outside, f"fetched from outside this machine: {outside}"


def test_two_reloads_in_a_row_both_get_widgets_from_the_pool(settings: Settings, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with dashboard(settings, home) as served, chromium() as browser:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.set_default_timeout(240 * SECONDS)
        page.goto(served.url + "?dataset=digits")
        page.wait_for_selector(WIDGETS, state="visible")
        before = heated_kernels_used(served, home)
        for _ in range(2):  # the second as soon as the first shows its widgets
            page.reload()
            page.wait_for_selector(WIDGETS, state="visible")
        assert heated_kernels_used(served, home) == before + 2


def test_a_first_launch_on_a_new_catalog_gets_widgets(tmp_path: Path) -> None:
    """The pool's kernels open the catalog together at launch: none may find half a schema."""
    settings = Settings(data_dir=tmp_path / "data", database_url="", user="tester")
    home = tmp_path / "home"
    with dashboard(settings, home) as served, chromium() as browser:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.set_default_timeout(240 * SECONDS)
        page.goto(served.url)
        page.wait_for_selector(WIDGETS, state="visible")
        page.reload()  # a kernel of the pool this time
        page.wait_for_selector(WIDGETS, state="visible")
        assert "Error at server while executing cell" not in voila_log(served, home)
