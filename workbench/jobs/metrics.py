"""Prometheus metrics: jobs by kind and state, queue wait and run time, failures by cause, images
ingested, augmented and predicted, training epochs; served with a login by a worker (and the REST
API) when ``WORKBENCH_METRICS_PORT`` is set.

A Celery worker runs jobs in child processes, replaced after each job on the torch queues, so the
counts live in prometheus_client's multiprocess files: ``prepare`` points it at a fresh folder in
the worker's main process before any metric exists, and the children it forks write there.
Metrics are made on first use, so a process that never records one never imports
prometheus_client, and one that does picks the mode ``prepare`` chose."""

from __future__ import annotations

import base64
import hmac
import logging
import os
import shutil
import socketserver
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from workbench.config import Settings
from workbench.errors import ConfigError

log = logging.getLogger(__name__)
USER = "prometheus"  # the login Prometheus' scrape config gives (basic_auth)
SECONDS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600)  # a ping to a long training
EPOCH_SECONDS = (1, 5, 15, 60, 300, 900, 3600)


def prepare(settings: Settings) -> None:
    """In a worker's main process, before it forks: every process of it records into one folder."""
    if settings.metrics_port and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="workbench-metrics-")
        from prometheus_client import values

        # prometheus_client picks its storage when first imported, which Celery's start may have
        # done already: pick again now (no metric exists yet, they are made on first use).
        values.ValueClass = values.get_value_class()


def forget() -> None:
    """At a worker's end: its folder of counts goes (a new start counts from zero, as Prometheus
    expects of a restarted target)."""
    folder = os.environ.pop("PROMETHEUS_MULTIPROC_DIR", "")
    if folder.startswith(tempfile.gettempdir()):
        shutil.rmtree(folder, ignore_errors=True)


class Metrics:
    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.jobs_started = Counter("workbench_jobs_started", "jobs a worker began, by kind", ["kind"])
        self.jobs_ended = Counter(
            "workbench_jobs_ended", "jobs that ended here, by kind and state", ["kind", "state"]
        )
        self.failures = Counter("workbench_job_failures", "failed jobs, by kind and cause", ["kind", "cause"])
        self.queue_wait = Histogram(
            "workbench_job_queue_wait_seconds",
            "from submit to a worker's first start",
            ["kind"],
            buckets=SECONDS,
        )
        # The last wait, so Prometheus' min_over_time and max_over_time give a window's extremes
        # (as seen at each scrape; the histogram gives the average and quantiles exactly).
        self.last_wait = Gauge(
            "workbench_job_last_queue_wait_seconds", "the latest job's wait, by kind", ["kind"],
            multiprocess_mode="mostrecent",
        )  # fmt: skip
        self.run_time = Histogram(
            "workbench_job_run_seconds", "one run of a job on a worker", ["kind", "state"], buckets=SECONDS
        )
        self.images = Counter(
            "workbench_images", "images handled, by stage (ingested, augmented, predicted)", ["stage"]
        )
        self.epoch_time = Histogram(
            "workbench_training_epoch_seconds", "one training epoch", ["arch"], buckets=EPOCH_SECONDS
        )
        self.trained_images = Counter(
            "workbench_training_images", "images seen in training (all epochs)", ["arch"]
        )
        self.predictions = Counter(
            "workbench_predictions_served",
            "predictions answered, by channel (api, dashboard, batch)",
            ["channel"],
        )
        self.api_requests = Counter(
            "workbench_api_requests", "REST API requests, by route and status", ["route", "status"]
        )
        self.api_seconds = Histogram(
            "workbench_api_request_seconds", "REST API request time, by route", ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )  # fmt: skip


@cache
def metrics() -> Metrics:
    return Metrics()


def start_at_zero(kinds: Iterable[str]) -> None:
    """Every series a worker may count, at zero from its start: Prometheus' increase() sees a
    series' first job only if the series existed before it."""
    m = metrics()
    for kind in kinds:
        m.jobs_started.labels(kind)
        for state in ("succeeded", "failed", "aborted", "running", "lost"):
            m.jobs_ended.labels(kind, state)
            m.run_time.labels(kind, state)
        m.queue_wait.labels(kind)
    for stage in ("ingested", "augmented", "predicted"):
        m.images.labels(stage)


def job_started(kind: str, queued_seconds: float | None) -> None:
    metrics().jobs_started.labels(kind).inc()
    if queued_seconds is not None:
        metrics().queue_wait.labels(kind).observe(max(0.0, queued_seconds))
        metrics().last_wait.labels(kind).set(max(0.0, queued_seconds))


def job_ended(kind: str, state: str, seconds: float) -> None:
    metrics().jobs_ended.labels(kind, state).inc()
    metrics().run_time.labels(kind, state).observe(seconds)


def job_failed(kind: str, cause: str) -> None:
    metrics().failures.labels(kind, cause).inc()


def images(stage: str, count: int) -> None:
    if count:
        metrics().images.labels(stage).inc(count)


def epoch(arch: str, seconds: float, images_seen: int) -> None:
    metrics().epoch_time.labels(arch).observe(seconds)
    metrics().trained_images.labels(arch).inc(images_seen)


# -- serving -------------------------------------------------------------------------------------
def registry(collectors: Iterable[Any] = ()) -> Any:
    """What a scrape reads: every process's files in multiprocess mode, else this process's."""
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        chosen = CollectorRegistry()
        MultiProcessCollector(chosen)
    else:
        chosen = REGISTRY
    for collector in collectors:
        chosen.register(collector)
    return chosen


def serve(settings: Settings, collectors: Iterable[Any] = ()) -> WSGIServer | None:
    """Serve /metrics on ``settings.metrics_address:metrics_port`` behind basic auth, in a thread;
    None when metrics are off. Never unauthenticated: no password, no metrics."""
    if not settings.metrics_port:
        return None
    if not settings.metrics_password:
        raise ConfigError(
            "WORKBENCH_METRICS_PORT is set but WORKBENCH_METRICS_PASSWORD is not: metrics are not "
            f"served without a login (Prometheus logs in as {USER!r} with that password)"
        )
    from prometheus_client import make_wsgi_app

    app = _with_login(make_wsgi_app(registry(collectors)), settings.metrics_password)
    server = make_server(
        settings.metrics_address, settings.metrics_port, app, _ThreadingServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="workbench-metrics", daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", settings.metrics_address, settings.metrics_port)
    return server


def _with_login(app: Callable[..., Iterable[bytes]], password: str) -> Callable[..., Iterable[bytes]]:
    expected = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = environ.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="workbench metrics"')])
            return [b"log in as Prometheus does: basic auth, user prometheus\n"]
        return app(environ, start_response)

    return guarded


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # a scrape every few seconds: no log line
        pass


class QueueCollector:
    """Each queue's waiting messages and consumers, asked of the broker at scrape time (a passive
    declare: it changes nothing). No consumer on a queue is the 'no worker' alert."""

    def __init__(self, broker_url: str, queues: Iterable[str]) -> None:
        self.broker_url, self.queues = broker_url, sorted(set(queues))

    def collect(self) -> Iterator[Any]:
        from kombu import Connection
        from prometheus_client.core import GaugeMetricFamily

        from workbench.jobs.queues import queue_counts  # Celery loads only where metrics are served

        waiting = GaugeMetricFamily(
            "workbench_queue_messages", "messages waiting in a queue", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "workbench_queue_consumers", "workers consuming a queue", labels=["queue"]
        )
        try:
            with Connection(self.broker_url, connect_timeout=3) as connection:
                for queue in self.queues:
                    count, consuming = queue_counts(connection, queue)
                    waiting.add_metric([queue], count)
                    consumers.add_metric([queue], consuming)
        except OSError as exc:
            log.warning("queue lengths unavailable: %s", exc)
            return
        yield waiting
        yield consumers
