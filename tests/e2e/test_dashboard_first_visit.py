"""What a person meets first: a link to a dataset that is not there (issue 16, item 5), and an
empty dashboard that shows the next step instead of broken pictures (item 9). Real Voila, real
Chromium, the embedded default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.browser import chromium, dashboard
from tests.e2e.test_dashboard import SECONDS, new_page, open_tab, settings, status, upload
from tests.e2e.test_dashboard_current_data import image_folder
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow
__all__ = ["settings"]  # the fixture, shared with test_dashboard.py

BROKEN_IMAGES = "imgs => imgs.filter(i => i.offsetParent !== null && i.naturalWidth === 0).length"


def test_a_link_to_a_missing_dataset_says_so_and_offers_the_others(
    settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]
) -> None:
    from playwright.sync_api import expect

    with Workbench(settings) as bench:
        bench.ingest(image_folder(digit_files[:50], tmp_path / "digits"), "digits")
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url + "?dataset=nope")
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        expect(page.locator(".workbench-notice")).to_have_text("No dataset named 'nope'. Pick one:")
        expect(page.locator(".workbench-current").first).to_contain_text("no dataset chosen yet")
        assert "no dataset named 'nope'" in (served.root / "dashboard.log").read_text()

        page.locator(".workbench-dataset-choice select").select_option(index=0)  # the only one
        expect(status(page, "gallery")).to_contain_text("(50 images)")
        expect(page.locator(".workbench-notice")).to_have_text("")

        zeros = sum(1 for _, label in digit_files[:50] if label == "0")
        page.locator(".workbench-filter-labels select").select_option(index=[0])  # one class
        page.get_by_role("button", name="Apply filter").click()
        expect(status(page, "filter")).to_contain_text("images match")
        open_tab(page, "Train")
        page.get_by_role("button", name="Start training").click()
        expect(status(page, "training")).to_contain_text(
            f"Cannot train on digits, label in {{0}}: {zeros} images, 1 class: a classifier needs two or more"
        )


def test_an_empty_dashboard_shows_next_steps_and_the_sample_dataset_is_one_click_away(
    settings: Settings, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url)
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        expect(page.locator(".workbench-empty").first).to_contain_text("try the sample")
        for tab in ("Data", "Augment", "Train", "Models", "Predict", "Reports"):
            open_tab(page, tab)
            assert page.locator("img").evaluate_all(BROKEN_IMAGES) == 0, f"a broken picture in {tab}"
        open_tab(page, "Models")
        expect(page.locator(".workbench-empty").filter(has_text="No models yet")).to_be_visible()
        explained = page.locator(".workbench-help [title]").filter(has_text="published")
        expect(explained).to_have_attribute("title", re.compile("Scheduled reports"))

        open_tab(page, "Predict")  # a file that is no image: named, in words
        (tmp_path / "notes.txt").write_text("not a picture")
        upload(page, "Photo", tmp_path / "notes.txt")
        expect(status(page, "predict")).to_contain_text("'notes.txt' is not an image in a supported format")

        open_tab(page, "Data")
        page.get_by_role("button", name="Try the sample dataset").click()
        expect(status(page, "datasets")).to_contain_text("1,797 images ingested", timeout=300 * SECONDS)
        picker = page.locator(".workbench-dataset-choice select")
        selected = picker.evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")
        assert selected.startswith("digits (1,797 images, 10 labels)"), selected
        expect(status(page, "gallery")).to_contain_text("(1,797 images)")
        open_tab(page, "Statistics")
        expect(page.locator(".workbench-stats-plot")).to_be_visible()
