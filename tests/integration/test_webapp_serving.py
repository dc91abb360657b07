"""Where a person gets a model's web app: the REST API serves it at a stable address per model
(behind the same login as everything else) and as a zip, and the dashboard's Models tab makes the
zip. In Chromium, the app served by the API classifies a photo as the server does, then again
offline; and the other ways photos come in: a folder, a drop, the camera (Chromium's fake one)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import builders, services
from tests.conftest import FAST_JOBS
from tests.e2e.browser import chromium
from tests.rest import running_api
from tests.webapp import CLASSIFIED, classify, open_app, served
from workbench.api import Workbench
from workbench.ml.predict import OnnxPredictor

pytestmark = pytest.mark.slow
APP_FILES = {"index.html", "model.onnx", "sw.js", "labels.json", "ort-wasm-simd-threaded.wasm", "config.json"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workbench, int]]:
    root = tmp_path_factory.mktemp("webapp-serving")
    bench = builders.digits_workbench(root, FAST_JOBS)
    info = bench.train("digits", name="digits", epochs=1, image_size=16, hflip=False).wait(timeout=900)
    try:
        yield bench, int(info.result["model_id"])
    finally:
        services.kill_local_worker(bench.settings)
        bench.close()


def test_the_api_serves_the_app_per_model_and_as_a_zip(
    trained: tuple[Workbench, int], tmp_path: Path
) -> None:
    bench, model_id = trained
    token = bench.create_token("web app", "read")[1]
    photo = tmp_path / "photo.png"
    photo.write_bytes(builders.image_bytes(3, (16, 16)))
    with running_api(bench.settings, tmp_path / "api.log") as api, api.client(token) as client:
        assert client.get(f"/v1/models/{model_id}/app/").status_code == 200
        index = client.get(f"/v1/models/{model_id}/app/")
        assert index.headers["content-type"].startswith("text/html")
        assert index.headers["cross-origin-opener-policy"] == "same-origin"
        wasm = client.get(f"/v1/models/{model_id}/app/ort-wasm-simd-threaded.wasm")
        assert wasm.headers["content-type"] == "application/wasm" and wasm.content[:4] == b"\0asm"
        assert client.get(f"/v1/models/{model_id}/app/sw.js").headers["cache-control"] == "no-cache"
        assert client.get(f"/v1/models/{model_id}/app/..%2F..%2Fwebapps").status_code == 404
        assert client.get(f"/v1/models/{model_id + 1000}/app/").status_code == 404
        archive = client.get(f"/v1/models/{model_id}/webapp.zip")
        assert archive.status_code == 200
        assert set(zipfile.ZipFile(io.BytesIO(archive.content)).namelist()) >= APP_FILES
        with api.client() as stranger:
            assert stranger.get(f"/v1/models/{model_id}/app/").status_code == 401

        # A browser logs in once (the token page), opens the app at its address, classifies.
        url = f"{api.url}/v1/models/{model_id}/app/"
        expected = OnnxPredictor(bench.export_folder(model_id)).probabilities([_open(photo)])[0]
        with chromium() as browser:
            context, page, outside = open_app(browser, url, cookies=_login(browser, url, token))
            (result,) = classify(page, [photo])
            assert np.abs(np.array(result["probabilities"]) - expected).max() < 1e-3
            context.set_offline(True)
            page.reload()
            page.wait_for_selector("body[data-ready='1']", timeout=120_000)
            (again,) = classify(page, [photo])[-1:]
            assert np.abs(np.array(again["probabilities"]) - expected).max() < 1e-3
            assert outside == []
            context.close()


def _open(path: Path):  # type: ignore[no-untyped-def]
    from PIL import Image

    return Image.open(path)


def _login(browser, url: str, token: str) -> list[Any]:  # type: ignore[no-untyped-def]
    """A person's login by the API's token page, as cookies: the page at ``url`` sends a
    browser without one there, and back."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(url)
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(url)
    cookies = list(context.storage_state()["cookies"])
    context.close()
    return cookies


def test_the_models_tab_makes_the_zip(trained: tuple[Workbench, int], tmp_path: Path) -> None:
    from workbench.widgets.models import ModelsPanel
    from workbench.widgets.state import DashboardState

    bench, model_id = trained
    panel = ModelsPanel(DashboardState(bench), downloads=tmp_path / "downloads", downloads_url="/files")
    panel.choice.value = model_id
    panel.web_app.click()
    archive = tmp_path / "downloads" / str(model_id) / f"model-{model_id}-webapp.zip"
    assert set(zipfile.ZipFile(archive).namelist()) >= APP_FILES
    assert f"/files/{model_id}/{archive.name}" in panel.links.value and "workbench-ok" in panel.status.value


def test_photos_come_from_a_folder_a_drop_and_the_camera(
    trained: tuple[Workbench, int], tmp_path: Path
) -> None:
    bench, model_id = trained
    folder = bench.export_web(model_id, tmp_path / "app")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        (photos / f"p{i}.png").write_bytes(builders.image_bytes(i, (16, 16)))
    camera = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream")
    with served(folder) as url, chromium(*camera) as browser:
        context, page, outside = open_app(browser, url)
        names = "window.webapp.state.results.map((r) => r.name)"  # the latest photos given
        page.set_input_files("#folder", str(photos))  # a folder picked: every photo in it
        page.wait_for_selector(CLASSIFIED.format(n=1), state="attached", timeout=600_000)
        assert sorted(page.evaluate(names)) == ["photos/p0.png", "photos/p1.png", "photos/p2.png"]
        page.evaluate(DROP, [builders.image_bytes(9, (16, 16)).hex()])
        page.wait_for_selector(CLASSIFIED.format(n=2), state="attached", timeout=600_000)
        assert page.evaluate(names) == ["dropped.png"]
        page.click("#camera")  # the camera on: its preview
        page.wait_for_function("document.querySelector('#video').videoWidth > 0", timeout=60_000)
        page.click("#camera")  # the photo taken
        page.wait_for_selector(CLASSIFIED.format(n=3), state="attached", timeout=600_000)
        assert page.evaluate(names) == ["camera.png"]
        label = page.evaluate("window.webapp.state.results[0].labels[0]")
        assert label in bench.model(model_id).classes
        assert outside == []
        context.close()


DROP = """(hexes) => {
    const bytes = (hex) => new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
    const data = new DataTransfer();
    hexes.forEach((hex) => data.items.add(new File([bytes(hex)], "dropped.png", { type: "image/png" })));
    const drop = new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true });
    document.querySelector("#drop").dispatchEvent(drop);
}"""
