"""The exported web app served by `python -m http.server` (as its README says) and driven in
headless Chromium: what tests/e2e/test_webapp.py and benchmarks/bench_browser.py share."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.e2e.browser import free_port

CLASSIFIED = "body[data-classified='{n}']"


@contextlib.contextmanager
def served(folder: Path) -> Iterator[str]:
    """``python -m http.server`` in ``folder`` on a free port until the block ends; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=folder,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"http.server did not start in {folder}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=20)


def open_app(browser: Any, url: str, cookies: list[Any] | None = None) -> tuple[Any, Any, list[str]]:
    """A new context (with ``cookies``: a login) and page on the app, ready; and the list of
    requests that tried to leave the app's origin (each is refused)."""
    context = browser.new_context(accept_downloads=True)
    if cookies:
        context.add_cookies(cookies)
    outside: list[str] = []

    def guard(route: Any) -> None:
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    return context, page, outside


def classify(page: Any, files: list[Path], selector: str = "#photos") -> list[dict[str, Any]]:
    """Give the app ``files`` as a person picking them would; each one's name, labels,
    probabilities, embedding and timings (ms)."""
    done = int(page.evaluate("Number(document.body.dataset.classified || 0)"))
    page.set_input_files(selector, [str(f) for f in files])
    page.wait_for_selector(CLASSIFIED.format(n=done + 1), state="attached", timeout=600_000)
    return page.evaluate(
        """() => window.webapp.state.results.map((r) => ({
            name: r.name, labels: r.labels, probabilities: Array.from(r.probabilities),
            embedding: Array.from(r.embedding), timings: r.timings }))"""
    )
