"""Dashboard benchmark: time from navigation to widgets visible, cold and warm, and big uploads.

Run from the repository root (needs /usr/bin/chromium; no services: the embedded default)::

    PYTHONPATH=. python benchmarks/bench_dashboard.py [--quick]

Figures (one JSON line each, as bench_catalog):
- navigation to the dashboard's tabs visible in headless Chromium, median of N page loads:
  cold (a kernel started per page) and warm (Voila's preheated kernel pool), with the digits
  ingested; ratio warm / cold;
- a zip through the browser's upload (45 MB: over tornado's 10 MiB websocket default, the most
  Playwright hands a file chooser) and a 200 MB zip through the server path box: seconds from
  the click on Ingest to the dataset reported, and MB/s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_catalog import emit
from tests.e2e.browser import chromium, dashboard
from tests.e2e.test_dashboard import noise_zip
from workbench.api import Workbench
from workbench.config import Settings
from workbench.demo import write_digits

SELECTOR = ".workbench-tabs"


def page_loads(settings: Settings, home: Path, loads: int, preheat: bool) -> float:
    """Median seconds from goto to the tabs visible, a fresh page (and kernel) each time."""
    times = []
    with dashboard(settings, home, preheat=preheat) as served, chromium() as browser:
        for _ in range(loads):
            if preheat:  # a warm load means the pool has its kernel ready again
                deadline = time.monotonic() + 120
                while served.kernels() < 1 and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(3)  # and the preheated kernel has run the notebook up to the request
            page = browser.new_page()  # type: ignore[attr-defined]
            page.set_default_timeout(240_000)
            start = time.perf_counter()
            page.goto(served.url + "?dataset=digits")
            page.wait_for_selector(SELECTOR, state="visible")
            times.append(time.perf_counter() - start)
            page.close()
    return statistics.median(times)


def upload_seconds(settings: Settings, home: Path, archive: Path, name: str, through_browser: bool) -> float:
    with dashboard(settings, home) as served, chromium() as browser:
        page = browser.new_page()  # type: ignore[attr-defined]
        page.set_default_timeout(600_000)
        page.goto(served.url)
        page.wait_for_selector(SELECTOR, state="visible")
        start = time.perf_counter()
        if through_browser:
            with page.expect_file_chooser() as chooser:
                page.get_by_role("button", name="Zip of images (0)").click()
            chooser.value.set_files(str(archive))
            page.get_by_role("button", name="Zip of images (1)").wait_for()
        else:
            page.get_by_placeholder("or a folder / zip on the server").fill(str(archive))
        page.locator(".workbench-new-name input").fill(name)
        page.get_by_role("button", name="Ingest").click()
        page.locator(".workbench-status-datasets .workbench-ok").wait_for()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 page loads each, a 12 MB browser upload only")
    args = parser.parse_args()
    loads = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="bench_dashboard_") as name:
        tmp = Path(name)
        settings = Settings(data_dir=tmp / "data", database_url="", user="bench")
        images, labels = write_digits(tmp / "digits")
        bench = Workbench(settings)
        bench.ingest(images, "digits", labels_csv=labels, label_column="digit")
        bench.close()
        cold = page_loads(settings, tmp / "home", loads, preheat=False)
        emit("navigation to widgets visible, cold (a kernel per page)", cold, "s", n=loads)
        warm = page_loads(settings, tmp / "home", loads, preheat=True)
        emit("navigation to widgets visible, warm (preheated kernel)", warm, "s", baseline=cold,
             ratio=warm / cold, n=loads)  # fmt: skip
        sizes = [(12, True)] if args.quick else [(45, True), (200, False)]
        for megabytes, through_browser in sizes:
            archive = tmp / f"upload{megabytes}.zip"
            noise_zip(archive, megabytes)
            actual = archive.stat().st_size / 1e6
            seconds = upload_seconds(settings, tmp / "home", archive, f"upload{megabytes}", through_browser)
            how = "browser upload" if through_browser else "server path"
            emit(f"{how} of a {megabytes} MB zip, click to dataset ingested", seconds, "s",
                 megabytes=round(actual, 1), mb_per_s=round(actual / seconds, 1))  # fmt: skip
    print(json.dumps({"summary": "done"}))


if __name__ == "__main__":
    main()
