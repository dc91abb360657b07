"""The dashboard's current dataset and filter change only by the person's hand: an ingest or an
augmentation elsewhere leaves both where they were (issue 16, item 1). Real Voila, real Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.browser import chromium, dashboard
from tests.e2e.test_dashboard import SECONDS, new_page, open_tab, settings, status
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow
__all__ = ["settings"]  # the fixture, shared with test_dashboard.py


def image_folder(files: list[tuple[Path, str]], target: Path) -> Path:
    for path, label in files:
        (target / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / label / path.name)
    return target


def two_datasets(settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]) -> int:
    """``a-digits`` sorts first and ``b-digits`` is the one the person works on: a picker that
    falls back to its first option shows the wrong one. Returns b-digits' images labelled 0-2."""
    bench = Workbench(settings)
    bench.ingest(image_folder(digit_files[:60], tmp_path / "a"), "a-digits")
    bench.ingest(image_folder(digit_files[60:180], tmp_path / "b"), "b-digits")
    bench.close()
    return sum(1 for _, label in digit_files[60:180] if label in {"0", "1", "2"})


def choose_labels_0_to_2(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.locator(".workbench-filter-labels select").select_option(index=[0, 1, 2])
    page.get_by_role("button", name="Apply filter").click()
    expect(status(page, "filter")).to_contain_text("images match")


def still_on_b_digits_labels_0_to_2(page, matching: int) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    picker = page.locator(".workbench-dataset-choice select")
    selected = picker.evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")
    assert selected.startswith("b-digits"), selected
    labels = page.locator(".workbench-filter-labels select")
    chosen = labels.evaluate("s => [...s.selectedOptions].map(o => o.text.split(/\\s/)[0])")
    assert chosen == ["0", "1", "2"], chosen
    expect(status(page, "gallery")).to_contain_text(f"({matching:,} images)")
    expect(page.locator(".workbench-current").first).to_contain_text("label in {0, 1, 2}")


def test_ingesting_another_dataset_keeps_the_chosen_one_and_its_filter(
    settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]
) -> None:
    from playwright.sync_api import expect

    matching = two_datasets(settings, tmp_path, digit_files)
    folder = image_folder(digit_files[180:240], tmp_path / "c")
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url + "?dataset=b-digits")
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        choose_labels_0_to_2(page)

        page.get_by_placeholder("or a folder / zip on the server").fill(str(folder))
        page.locator(".workbench-new-name input").fill("c-digits")
        page.get_by_role("button", name="Ingest").click()
        expect(status(page, "datasets")).to_contain_text("60 images ingested", timeout=300 * SECONDS)
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text("c-digits (60 images")
        still_on_b_digits_labels_0_to_2(page, matching)
        open_tab(page, "Train")  # every action says which data it will use
        expect(page.locator(".workbench-training .workbench-current")).to_contain_text(
            f"Training on b-digits, label in {{0, 1, 2}}: {matching} images, 3 classes"
        )

        open_tab(page, "Data")  # the same images again under a name that exists: asked first
        page.locator(".workbench-new-name input").fill("b-digits")
        page.get_by_role("button", name="Ingest").click()
        expect(status(page, "datasets")).to_contain_text("A dataset named 'b-digits' already has 120 images")
        page.get_by_role("button", name="Add them to 'b-digits'").click()
        expect(status(page, "datasets")).to_contain_text("60 images ingested", timeout=300 * SECONDS)
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text("b-digits (180 images")


def test_making_an_augmented_dataset_from_a_filtered_view_keeps_the_view(
    settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]
) -> None:
    from playwright.sync_api import expect

    matching = two_datasets(settings, tmp_path, digit_files)
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url + "?dataset=b-digits")
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        choose_labels_0_to_2(page)

        open_tab(page, "Augment")
        page.locator(".workbench-augment-name input").fill("b-rotated")
        page.get_by_role("button", name="Create dataset").click()
        expect(status(page, "augment")).to_contain_text("'b-rotated' made", timeout=300 * SECONDS)
        open_tab(page, "Data")
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text("b-rotated")
        still_on_b_digits_labels_0_to_2(page, matching)
