"""The dashboard in a real browser: Voila serving notebooks/dashboard.ipynb, headless Chromium
clicking through it as a person would, on the embedded default (SQLite and the local worker)."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from tests import services
from tests.e2e.browser import chromium, dashboard
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow
TABS = ("Data", "Train", "Models", "Predict")
SECONDS = 1000  # Playwright counts milliseconds


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    settings = Settings(data_dir=tmp_path / "data", database_url="", user="tester")
    yield settings
    services.kill_local_worker(settings)


def image_folder_zip(files: list[tuple[Path, str]], target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path, label in files:
            archive.write(path, f"digits/{label}/{path.name}")
    return target


def new_page(browser):  # type: ignore[no-untyped-def]
    """Voila answers a page only once its kernel has run the notebook: slow on a busy machine."""
    page = browser.new_page(viewport={"width": 1300, "height": 1150})
    page.set_default_navigation_timeout(240 * SECONDS)
    return page


def open_tab(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_role("tab", name=name, exact=True).click()


def upload(page, button: str, path: Path) -> None:  # type: ignore[no-untyped-def]
    """ipywidgets' FileUpload has no <input type=file> in the page: answer the file chooser."""
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name=re.compile(button)).click()
    chooser.value.set_files(str(path))


def ingest_zip(page, archive: Path, name: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    """Upload ``archive`` through the Data tab, ingest it as ``name``, wait for ``expected``."""
    from playwright.sync_api import expect

    upload(page, "Zip of images", archive)
    # The kernel has the file once it names it beside the button.
    expect(page.locator(".workbench-chosen")).to_contain_text(archive.name, timeout=120 * SECONDS)
    page.locator(".workbench-new-name input").fill(name)
    page.get_by_role("button", name="Ingest").click()
    expect(status(page, "datasets")).to_contain_text(expected, timeout=600 * SECONDS)


def keep_screenshots(shots: Path) -> None:
    """``DASHBOARD_SCREENSHOTS=docs`` keeps each tab's picture as docs/dashboard-<tab>.png (the
    README's), narrowed and reduced to 256 colours to stay small."""
    folder = os.environ.get("DASHBOARD_SCREENSHOTS")
    for shot in sorted(shots.glob("*.png")) if folder else []:
        image = Image.open(shot).convert("RGB")
        image.thumbnail((1000, 1400))
        image.quantize(256).save(Path(folder or ".") / f"dashboard-{shot.name}", optimize=True)


def status(page, panel: str):  # type: ignore[no-untyped-def]
    return page.locator(f".workbench-status-{panel}")


def test_a_person_uploads_filters_trains_judges_predicts_and_downloads(
    settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]
) -> None:
    from playwright.sync_api import expect

    archive = image_folder_zip(digit_files[:600], tmp_path / "digits.zip")
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url)
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)

        ingest_zip(page, archive, "digits", "600 images ingested")
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text(
            "digits (600 images, 10 labels)"
        )

        page.locator(".workbench-filter-labels select").select_option(index=[0, 1, 2])
        page.get_by_role("button", name="Apply filter").click()
        expected = sum(1 for _, label in digit_files[:600] if label in {"0", "1", "2"})
        expect(status(page, "filter")).to_contain_text(f"{expected:,} images match")
        page.screenshot(path=str(shots / "data.png"), full_page=True)

        open_tab(page, "Train")
        page.locator(".workbench-epochs input").fill("2")
        page.locator(".workbench-epochs input").press("Tab")
        page.get_by_role("button", name="Start training").click()
        expect(status(page, "training")).to_contain_text("trained: test accuracy", timeout=600 * SECONDS)
        expect(page.locator(".workbench-training .workbench-job-state")).to_have_text("succeeded")
        finished = page.locator(".workbench-training .workbench-job-result")
        expect(finished).to_contain_text(re.compile(r"Done: test accuracy \d+\.\d %"))
        expect(page.locator(".workbench-training").get_by_role("button", name="Abort")).to_be_hidden()
        expect(page.locator(".workbench-curves")).to_have_attribute("src", re.compile("^blob:"))
        page.screenshot(path=str(shots / "train.png"), full_page=True)

        open_tab(page, "Models")
        expect(page.locator(".workbench-model-choice select")).to_contain_text("resnet18")
        confusion = page.locator(".workbench-confusion")
        expect(confusion).to_have_attribute("src", re.compile("^blob:"))
        assert confusion.evaluate("img => img.naturalWidth") > 100
        page.mouse.wheel(0, -10_000)  # back to the top of the page for the picture
        page.screenshot(path=str(shots / "models.png"))
        page.get_by_role("button", name="Download files").click()
        link = page.locator("a.workbench-download[data-file='model.onnx']")
        expect(link).to_be_visible()
        response = page.request.get(served.url + link.get_attribute("href"))
        assert response.status == 200
        session = ort.InferenceSession(response.body(), providers=["CPUExecutionProvider"])
        size = session.get_inputs()[0].shape[-1]
        logits = session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, size, size), np.float32)})
        assert logits[0].shape == (1, 3)

        open_tab(page, "Predict")
        photo, _ = next((p, label) for p, label in digit_files[600:] if label == "1")
        upload(page, "Photo", photo)
        expect(status(page, "predict")).to_contain_text(
            re.compile(r"predicted: [012] \("), timeout=60 * SECONDS
        )
        expect(page.locator(".workbench-prediction .workbench-top-label")).to_have_count(3)

        # the whole filtered view: its predictions shown, and all of them as a CSV
        page.get_by_role("button", name="Predict the current view").click()
        expect(status(page, "predict")).to_contain_text(
            f"{expected:,} images predicted", timeout=300 * SECONDS
        )
        expect(page.locator(".workbench-predictions tr")).to_have_count(21)  # a header and the first 20
        csv_link = page.locator("a.workbench-predictions-csv")
        response = page.request.get(served.url + csv_link.get_attribute("href"))
        assert response.status == 200
        rows = list(csv.DictReader(io.StringIO(response.text())))
        assert len(rows) == expected and {row["predicted"] for row in rows} <= {"0", "1", "2"}
        page.screenshot(path=str(shots / "predict.png"), full_page=True)

    assert sorted(p.name for p in shots.iterdir()) == ["data.png", "models.png", "predict.png", "train.png"]
    keep_screenshots(shots)


def test_a_reload_mid_training_finds_the_job_and_its_progress_again(
    settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]
) -> None:
    from playwright.sync_api import expect

    folder = tmp_path / "folder"
    for path, label in digit_files[:400]:
        (folder / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / label / path.name)
    bench = Workbench(settings)
    bench.ingest(folder, "digits", split="0.8,0.1,0.1")
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url + "?dataset=digits")
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text("digits (400 images")
        open_tab(page, "Train")
        page.locator(".workbench-epochs input").fill("40")
        page.locator(".workbench-epochs input").press("Tab")
        page.get_by_role("button", name="Start training").click()
        expect(page.locator(".workbench-training .workbench-job-state")).to_have_text(
            "running", timeout=120 * SECONDS
        )
        job = bench.jobs(kind="train")[0]
        services.until(lambda: bench.job(job.id).info().progress > 0, 180, "training progress")

        waiting = bench.submit("ping", {"steps": 1})  # queued behind the training
        page.reload()
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        expect(page.locator(".workbench-under-way")).to_contain_text(waiting.id[:12])  # other jobs too
        open_tab(page, "Train")
        title = page.locator(".workbench-training .workbench-job-state").locator("xpath=..")
        expect(title).to_contain_text("training on digits", timeout=60 * SECONDS)
        expect(page.locator(".workbench-training .workbench-job-state")).to_have_text("running")
        expect(title).to_contain_text(re.compile(r"running [1-9]\d*%"), timeout=120 * SECONDS)
        # the form shows the running job's settings and data, not the defaults
        expect(page.locator(".workbench-epochs input")).to_have_value("40")
        expect(status(page, "training")).to_contain_text("training on digits: 400 images, 10 classes")

        training = page.locator(".workbench-training")
        training.get_by_role("button", name="Abort").click()
        expect(page.locator(".workbench-training .workbench-job-state")).to_have_text(
            "aborted", timeout=180 * SECONDS
        )
        # a finished job looks finished: its outcome, and no Abort button any more
        expect(training.locator(".workbench-job-result")).to_contain_text("Stopped on request")
        expect(training.get_by_role("button", name="Abort")).to_be_hidden()
    assert bench.job(job.id).info().state == "aborted"
    bench.close()


def test_a_closed_page_gives_its_kernel_back(settings: Settings, tmp_path: Path) -> None:
    """Voila 0.5 never shuts down a closed page's kernel: the idle culler must."""
    from playwright.sync_api import expect

    options = {"cull_idle_seconds": 4, "cull_interval_seconds": 1, "pool_size": 1}  # counts kernels
    with dashboard(settings, tmp_path / "home", **options) as served, chromium() as browser:
        services.until(lambda: served.kernels() == 1, 120, "the preheated kernel")
        page = new_page(browser)
        page.goto(served.url)
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        services.until(lambda: served.kernels() == 2, 120, "a fresh kernel for the pool beside the page's")
        page.close()
        services.until(lambda: served.kernels() == 1, 90, "the closed page's kernel to be culled")


def noise_zip(target: Path, megabytes: int) -> int:
    """An ImageFolder zip of incompressible PNGs at least ``megabytes`` big; returns the images."""
    rng = np.random.default_rng(0)
    n = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zipped:
        while target.stat().st_size < megabytes * 1024 * 1024:
            noise = rng.integers(0, 256, size=(512, 512, 3), dtype=np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(noise).save(buffer, format="PNG", compress_level=1)
            zipped.writestr(f"big/{'ab'[n % 2]}/{n}.png", buffer.getvalue())
            zipped.fp.flush()  # type: ignore[union-attr]
            n += 1
    return n


def test_a_zip_over_the_websocket_default_uploads_from_the_browser(
    settings: Settings, tmp_path: Path
) -> None:
    """45 MB: over tornado's 10 MiB default, under the 50 MB Playwright can hand a file chooser
    (its driver ran out of memory on 200 MB); bigger zips come from a server path (next test)."""
    from playwright.sync_api import expect

    n = noise_zip(tmp_path / "big.zip", 45)
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url)
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        ingest_zip(page, tmp_path / "big.zip", "big", f"{n:,} images ingested")


def test_a_200_mb_zip_ingests_from_a_path_on_the_server(settings: Settings, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    archive = tmp_path / "large.zip"
    n = noise_zip(archive, 200)
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url)
        expect(page.locator(".workbench-tabs")).to_be_visible(timeout=120 * SECONDS)
        page.get_by_placeholder("or a folder / zip on the server").fill(str(archive))
        page.locator(".workbench-new-name input").fill("large")
        page.get_by_role("button", name="Ingest").click()
        expect(status(page, "datasets")).to_contain_text(f"{n:,} images ingested", timeout=600 * SECONDS)
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text(
            f"large ({n:,} images, 2 labels)"
        )


def test_a_person_previews_an_augmentation_makes_the_dataset_and_opens_a_report(
    settings: Settings, tmp_path: Path, digit_files: list[tuple[Path, str]]
) -> None:
    from playwright.sync_api import expect

    folder = tmp_path / "folder"
    for path, label in digit_files[:120]:
        (folder / label).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / label / path.name)
    bench = Workbench(settings)
    bench.ingest(folder, "digits")
    bench.close()
    shots = tmp_path / "screenshots"
    shots.mkdir()
    with dashboard(settings, tmp_path / "home") as served, chromium() as browser:
        page = new_page(browser)
        page.goto(served.url + "?dataset=digits")
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text("digits (120 images")

        open_tab(page, "Augment")  # a control per op of the registry, the preview following them
        preview = page.locator(".workbench-augment-preview")
        page.locator(".workbench-op-blur input").check()
        expect(status(page, "augment")).to_contain_text("preview: 6 images", timeout=60 * SECONDS)
        expect(preview).to_have_attribute("src", re.compile("^blob:"))
        first = preview.get_attribute("src")
        page.locator(".workbench-op-grayscale input").check()
        expect(preview).not_to_have_attribute("src", first or "", timeout=60 * SECONDS)  # a new picture
        for op in ("hflip", "rotate", "color_jitter", "random_resized_crop", "blur", "grayscale"):
            page.locator(f".workbench-op-{op} input").uncheck()
        expect(status(page, "augment")).to_contain_text("the recipe has no ops")  # said before a job
        page.locator(".workbench-op-rotate input").check()
        expect(status(page, "augment")).to_contain_text("preview: 6 images", timeout=60 * SECONDS)
        page.locator(".workbench-augment-name input").fill("digits-rotated")
        page.get_by_role("button", name="Create dataset").click()
        expect(status(page, "augment")).to_contain_text(
            "'digits-rotated' made: 240 images", timeout=300 * SECONDS
        )
        expect(page.locator(".workbench-dataset-choice select")).to_contain_text("digits-rotated (240 images")
        page.screenshot(path=str(shots / "augment.png"), full_page=True)

        open_tab(page, "Reports")
        page.get_by_role("button", name="Make report").click()
        expect(status(page, "reports")).to_contain_text(
            re.compile(r"report \d+ ready"), timeout=300 * SECONDS
        )
        page.get_by_role("button", name="Open").click()
        link = page.locator("a.workbench-report-link")
        expect(link).to_be_visible()
        response = page.request.get(served.url + link.get_attribute("href"))
        assert response.status == 200 and "<html" in response.text()
        page.screenshot(path=str(shots / "reports.png"), full_page=True)

        page.goto(served.url + "?dataset=digits-rotated")  # a link into a live view opens on it
        chosen = page.locator(".workbench-dataset-choice select")
        expect(chosen).to_contain_text("digits-rotated", timeout=120 * SECONDS)
        selected = chosen.evaluate("s => s.options[s.selectedIndex].text").replace(
            "\xa0", " "
        )  # widgets' nbsp
        assert selected.startswith("digits-rotated (240 images"), selected
        expect(status(page, "gallery")).to_contain_text("(240 images)")
    keep_screenshots(shots)
