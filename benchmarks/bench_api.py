"""REST API benchmark: single-image predict over HTTP against the same callers running ONNX
Runtime in-process, in one run.

Run from the repository root (no services: the embedded default)::

    PYTHONPATH=. python benchmarks/bench_api.py [--seconds 30] [--clients 16]

Two models, exported as training exports them (a ResNet18 with random weights: the cost is the
architecture's, not the weights'): one at 224 px, one at 32 px (the digits' size). For each, and
alternating the two sides, ``--clients`` threads for ``--seconds``:

- **HTTP**: each thread a keep-alive ``http.client`` connection posting one JPEG at a time to
  ``POST /v1/models/{id}/predict`` of `workbench api` (uvicorn, its own process; the token and
  the caller's right to the model checked, remembered for a few seconds);
- **in-process (baseline)**: each thread decoding the same JPEG and calling the same
  ``OnnxPredictor.top_k`` on one shared ONNX Runtime session.

Printed: requests per second, p50 and p99 latency on both sides and their ratio (target for the
224 px model: HTTP >= 0.7 of in-process); for 32 px, where the model costs little, where the time
goes. The same-run fp32 matmul rate says how close the model side is to this CPU's limit.
"""

from __future__ import annotations

import argparse
import http.client
import io
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.bench_catalog import emit
from tests import services
from tests.rest import running_api
from workbench.api import Workbench
from workbench.catalog.models import Model
from workbench.config import Settings
from workbench.ml.predict import OnnxPredictor
from workbench.photos import open_photo

RESNET18_GFLOP_224 = 1.82  # multiply-adds x2 of one 224 px image through ResNet18


def export_resnet18(folder: Path, image_size: int) -> Path:
    import torch

    from workbench.ml.export import export
    from workbench.ml.models import build

    torch.manual_seed(0)
    model = build("resnet18", 10)
    check = torch.rand(4, 3, image_size, image_size)
    export(model, folder, classes=[str(i) for i in range(10)], image_size=image_size,
           mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), check_images=check)  # fmt: skip
    return folder


def photos(n: int = 32, size: int = 256) -> list[bytes]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            buffer, "JPEG", quality=90
        )
        out.append(buffer.getvalue())
    return out


IMAGES = photos()


def run_clients(clients: int, seconds: float, call: Callable[[int, int], None]) -> tuple[float, list[float]]:
    """``clients`` threads calling ``call(thread, i)`` for ``seconds``: requests/s, latencies (s)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    stop = time.perf_counter() + seconds

    def loop(thread: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            start = time.perf_counter()
            call(thread, i)
            latencies[thread].append(time.perf_counter() - start)
            i += 1

    threads = [threading.Thread(target=loop, args=(t,)) for t in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    everything = [x for per in latencies for x in per]
    return len(everything) / elapsed, everything


def matmul_gflops(n: int = 1024, reps: int = 20) -> float:
    a, b = np.random.default_rng(0).random((2, n, n), dtype=np.float32)
    a @ b
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e9


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-api-"))
    settings = Settings(data_dir=root / "data", user="bench")
    rate = matmul_gflops()
    emit("fp32 matmul 1024x1024 (this CPU's limit, same run)", rate, "GFLOP/s")
    with Workbench(settings) as bench:
        token = bench.create_token("bench", "read")[1]
        models = {
            size: register(bench, export_resnet18(root / f"export{size}", size), size) for size in (224, 32)
        }
    try:
        with running_api(settings, root / "api.log") as api:
            for size, (model_id, folder) in models.items():
                rps = measure(api.url, token, model_id, OnnxPredictor(folder), settings, args)
                if size == 224:
                    share = rps["in-process"] * RESNET18_GFLOP_224 / rate
                    emit("224 px in-process: model compute against the matmul rate", share, "fraction")
                else:
                    where_time_goes(OnnxPredictor(folder), settings, rps, args.clients)
    finally:
        services.kill_local_worker(settings)


def register(bench: Workbench, folder: Path, size: int) -> tuple[int, Path]:
    """A model row for an export (as training records one): its id, and the folder."""
    classes = [str(i) for i in range(10)]
    with bench.catalog.transaction() as session:
        row = Model(owner="bench", name=f"resnet18-{size}", arch="resnet18", classes=classes, image_size=size,
                    export_dir=str(folder))  # fmt: skip
        session.add(row)
        session.flush()
        return row.id, folder


def measure(url: str, token: str, model_id: int, predictor: OnnxPredictor, settings: Settings,
            args: argparse.Namespace) -> dict[str, float]:  # fmt: skip
    """Both sides, warmed up, rounds alternated; emits rps and latencies, returns rps by side."""
    size = predictor.size[0]
    # The standard library's client, one keep-alive connection per caller: the callers share the
    # server's two cores, so the lighter they are, the more the figure is the server's.
    host, port = url.removeprefix("http://").split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=120) for _ in range(args.clients)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "image/jpeg"}

    def post(connection: http.client.HTTPConnection, i: int) -> http.client.HTTPResponse:
        connection.request("POST", f"/v1/models/{model_id}/predict", IMAGES[i % len(IMAGES)], headers)
        return connection.getresponse()

    def over_http(thread: int, i: int) -> None:
        connection = connections[thread]
        try:
            answer = post(connection, i)
        except (http.client.RemoteDisconnected, ConnectionError):  # idle past uvicorn's keep-alive
            connection.close()
            answer = post(connection, i)
        body = answer.read()
        if answer.status != 200:
            raise RuntimeError(f"{answer.status}: {body[:300]!r}")

    def in_process(thread: int, i: int) -> None:
        predictor.top_k(open_photo(IMAGES[i % len(IMAGES)], settings.limits), 5)

    sides = {"in-process": in_process, "http": over_http}
    for call in sides.values():  # warm-up: connections made, caches full
        run_clients(args.clients, 3, call)
    runs: dict[str, list[tuple[float, list[float]]]] = {side: [] for side in sides}
    for side in ("in-process", "http", "in-process", "http"):
        runs[side].append(run_clients(args.clients, args.seconds / 2, sides[side]))
    for connection in connections:
        connection.close()
    rps = {side: sum(r for r, _ in got) / len(got) for side, got in runs.items()}
    for side, got in runs.items():
        latency = [x for _, xs in got for x in xs]
        ratio = rps[side] / rps["in-process"]
        gated = size == 224 and side == "http"
        emit(
            f"{size} px predict, {args.clients} callers, {side}: requests per second", rps[side], "req/s",
            baseline=rps["in-process"], ratio=ratio, target=">= 0.7" if gated else None,
            passed=ratio >= 0.7 if gated else None, p50_ms=round(percentile(latency, 50), 2),
            p99_ms=round(percentile(latency, 99), 2),
        )  # fmt: skip
    return rps


def where_time_goes(
    predictor: OnnxPredictor, settings: Settings, rps: dict[str, float], clients: int
) -> None:
    """One caller's steps timed apart: decode and resize, the model, and what HTTP adds per request."""
    decode, infer = [], []
    for i in range(200):
        start = time.perf_counter()
        image = open_photo(IMAGES[i % len(IMAGES)], settings.limits)
        batch = predictor.preprocess([image])
        middle = time.perf_counter()
        predictor.logits(batch)
        decode.append(middle - start)
        infer.append(time.perf_counter() - middle)
    per_request_cpu = 1 / rps["http"] - 1 / rps["in-process"]  # CPU-seconds a request adds, all cores
    emit("32 px: decode and preprocess one photo (one caller)", statistics.median(decode) * 1000, "ms p50")
    emit("32 px: the model on one photo (one caller)", statistics.median(infer) * 1000, "ms p50")
    emit("32 px: what HTTP adds per request (token, catalog read, framing), from the two rates",
         per_request_cpu * 1000, "ms of wall time per request at full load", clients=clients)  # fmt: skip


if __name__ == "__main__":
    main()
