"""Sections of the operations report: the team server as Prometheus saw it over a window (workers,
queues, jobs, waits, failures), read from Prometheus' HTTP API (``WORKBENCH_PROMETHEUS_URL``,
with its login in the URL). For operators: a person's server is never given that address."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from IPython.display import HTML
from matplotlib.figure import Figure

from workbench.errors import ConfigError, WorkbenchError
from workbench.report_sections.display import (
    Column,
    figure_html,
    number,
    percent,
    section,
    table,
    text,
    title,
)
from workbench.report_sections.display import verdict as verdict_paragraph

WINDOW = re.compile(r"^[1-9][0-9]*[mhd]$")
STATES = ("succeeded", "failed", "aborted")


@dataclass(frozen=True)
class Prometheus:
    url: str  # without its login
    auth: tuple[str, str] | None
    window: str  # a Prometheus duration: 30m, 6h, 7d

    def query(self, promql: str) -> list[dict[str, Any]]:
        return self._ask("query", {"query": promql})

    def series(self, promql: str, points: int = 120) -> list[dict[str, Any]]:
        end = dt.datetime.now(dt.UTC).timestamp()
        span = _seconds(self.window)
        step = max(1.0, span / points)
        return self._ask("query_range", {"query": promql, "start": end - span, "end": end, "step": step})

    def alerts(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/alerts", auth=self.auth, timeout=30)
        answer.raise_for_status()
        return list(answer.json()["data"]["alerts"])

    def _ask(self, verb: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            answer = httpx.get(f"{self.url}/api/v1/{verb}", params=params, auth=self.auth, timeout=60)
        except httpx.HTTPError as exc:
            raise WorkbenchError(f"Prometheus at {self.url} does not answer: {exc}") from exc
        if answer.status_code == 401:
            raise ConfigError(f"Prometheus at {self.url} refused the login in WORKBENCH_PROMETHEUS_URL")
        answer.raise_for_status()
        return list(answer.json()["data"]["result"])


def connect(url: str | None, window: str) -> Prometheus:
    """Prometheus at ``url`` (http://user:password@host:9090), for a window such as '6h'."""
    if not url:
        raise ConfigError(
            "the operations report reads Prometheus: set WORKBENCH_PROMETHEUS_URL, e.g. "
            "http://workbench:PASSWORD@127.0.0.1:9090 (docker/prometheus/ has its configuration)"
        )
    if not WINDOW.match(window):
        raise ConfigError(f"window {window!r}: give minutes, hours or days, e.g. 30m, 6h, 7d")
    parts = urlsplit(url)
    auth = (parts.username or "", parts.password or "") if parts.username else None
    bare = urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path.rstrip("/"), "", ""))
    return Prometheus(bare, auth, window)


def _seconds(window: str) -> float:
    return float(window[:-1]) * {"m": 60, "h": 3600, "d": 86400}[window[-1]]


def _by(results: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(r["metric"].get(label, "") for label in labels): float(r["value"][1]) for r in results}


def _counted(results: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    """increase() of a counter, as whole jobs (Prometheus extrapolates to the window's edges)."""
    return {key: round(value) for key, value in _by(results, *labels).items()}


def heading(prom: Prometheus) -> HTML:
    return title("Operations", f"the last {prom.window}, from Prometheus at {prom.url}")


def verdict(prom: Prometheus) -> HTML:
    up = _by(prom.query('up{job=~"workbench-.*"}'), "instance")
    down = sorted(instance for (instance,), value in up.items() if value == 0)
    firing = [a for a in prom.alerts() if a.get("state") == "firing"]
    finished = 'workbench_jobs_ended_total{state=~"succeeded|failed|aborted"}'  # not a run lost midway
    ended = _counted(prom.query(f"sum by (state) (increase({finished}[{prom.window}]))"), "state")
    total, failed = sum(ended.values()), ended.get(("failed",), 0.0)
    said = [
        f"{len(up) - len(down)} of {len(up)} metrics endpoints answer"
        + (f"; down: {', '.join(down)}." if down else ".")
    ]
    said.append(
        f"{total:,.0f} jobs ended, {failed:,.0f} of them failed ({percent(failed / total if total else 0)})."
    )
    said.append(
        "Alerts firing: " + ", ".join(a["labels"]["alertname"] for a in firing) + "."
        if firing
        else "No alert is firing."
    )
    return verdict_paragraph(said)


def jobs(prom: Prometheus) -> HTML | None:
    """Per kind: how many started and how each ended, the wait (min, average, p95, max) and run time."""
    w = prom.window
    started = _counted(prom.query(f"sum by (kind) (increase(workbench_jobs_started_total[{w}]))"), "kind")
    ended = _counted(
        prom.query(f"sum by (kind, state) (increase(workbench_jobs_ended_total[{w}]))"), "kind", "state"
    )
    wait_sum = _by(prom.query(f"sum by (kind) (increase(workbench_job_queue_wait_seconds_sum[{w}]))"), "kind")
    wait_count = _by(
        prom.query(f"sum by (kind) (increase(workbench_job_queue_wait_seconds_count[{w}]))"), "kind"
    )
    p95 = _by(
        prom.query(
            "histogram_quantile(0.95, sum by (le, kind) "
            f"(increase(workbench_job_queue_wait_seconds_bucket[{w}])))"
        ),
        "kind",
    )
    low = _by(
        prom.query(f"min by (kind) (min_over_time(workbench_job_last_queue_wait_seconds[{w}]))"), "kind"
    )
    high = _by(
        prom.query(f"max by (kind) (max_over_time(workbench_job_last_queue_wait_seconds[{w}]))"), "kind"
    )
    run_sum = _by(prom.query(f"sum by (kind) (increase(workbench_job_run_seconds_sum[{w}]))"), "kind")
    run_count = _by(prom.query(f"sum by (kind) (increase(workbench_job_run_seconds_count[{w}]))"), "kind")
    kinds = sorted({k for (k,), n in started.items() if n} | {k for (k, _), n in ended.items() if n})
    if not kinds:
        return section("Jobs", "<p>No job ran in this window.</p>")
    rows = []
    for kind in kinds:
        count = wait_count.get((kind,), 0.0)
        runs = run_count.get((kind,), 0.0)
        rows.append({
            "kind": kind, "started": started.get((kind,), 0.0),
            **{state: ended.get((kind, state), 0.0) for state in STATES},
            "wait_min": low.get((kind,)), "wait_avg": wait_sum.get((kind,), 0.0) / count if count else None,
            "wait_p95": p95.get((kind,)), "wait_max": high.get((kind,)),
            "run_avg": run_sum.get((kind,), 0.0) / runs if runs else None,
        })  # fmt: skip
    columns: list[Column] = [("kind", "kind", text), ("started", "started", number)]
    columns += [(state, state, number) for state in STATES]
    columns += [("wait_min", "wait min (s)", seconds), ("wait_avg", "wait average (s)", seconds),
                ("wait_p95", "wait p95 (s)", seconds), ("wait_max", "wait max (s)", seconds),
                ("run_avg", "run average (s)", seconds)]  # fmt: skip
    intro = (
        "The wait is from submit to a worker's first start. Its average and p95 come from every job; "
        "its minimum and maximum from the latest wait Prometheus saw at each scrape."
    )
    return section("Jobs by kind", table(rows, columns), intro)


def failures(prom: Prometheus) -> HTML | None:
    causes = _counted(
        prom.query(f"sum by (kind, cause) (increase(workbench_job_failures_total[{prom.window}])) > 0"),
        "kind",
        "cause",
    )
    if not causes:
        return None
    rows = [{"kind": k, "cause": c, "jobs": n} for (k, c), n in sorted(causes.items())]
    return section(
        "Failures by cause",
        table(rows, [("kind", "kind", text), ("cause", "cause", text), ("jobs", "jobs", number)]),
    )


def figure(prom: Prometheus) -> HTML | None:
    """Jobs started and images handled over time, and the queues' lengths."""
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    started, handled, queues = fig.subplots(1, 3)
    for axes, promql, label, what in (
        (
            started,
            "sum by (kind) (increase(workbench_jobs_started_total[5m]))",
            "kind",
            "jobs started (per 5 min)",
        ),
        (handled, "sum by (stage) (increase(workbench_images_total[5m]))", "stage", "images (per 5 min)"),
        (queues, "max by (queue) (workbench_queue_messages)", "queue", "messages waiting"),
    ):
        for line in prom.series(promql):
            values = [float(v) for _, v in line["values"]]
            if axes is not queues and not any(values):  # a kind that never ran: no line for it
                continue
            times = [dt.datetime.fromtimestamp(float(t), dt.UTC) for t, _ in line["values"]]
            axes.plot(times, values, label=line["metric"].get(label, "?"))
        axes.set_title(what)
        axes.tick_params(axis="x", labelrotation=30)
        if axes.lines:
            axes.legend(fontsize="small")
    return section("Over time", figure_html(fig, "jobs started, images handled and queue lengths over time"))


def seconds(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:,.1f}"
