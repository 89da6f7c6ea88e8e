"""Prometheus metrics: `GET /metrics`, in the text exposition Prometheus scrapes.

Nearly everything is read at scrape time from counters the server keeps anyway (connections, the
hub, agents, tasks, canvases), so the hot paths pay nothing for it. The exceptions are each
JSON-RPC request and each canvas write, which the registry and the canvas service report through
a callback: a request is two dictionary lookups and three additions into plain lists (a
prometheus-client histogram takes a lock and a label lookup, about 2.5 µs: a tenth of a `ping`
on fifty connections), turned into families only when scraped. Each server has its own
`CollectorRegistry`, so several servers in one process (the test suite) never share figures.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from canvas_live.server.runtime import Runtime

REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
"""Upper bounds, in seconds, of the request duration histogram's buckets."""

CIRCUIT = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}
"""A circuit's state as a number: 0 closed, 1 half open (probing), 2 open."""


class Metrics:
    """The metric families of one server."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        methods = set(runtime.registry.methods)
        self._known = methods
        self.outcomes: dict[tuple[str, str], int] = {}
        self.timings: dict[str, list[float]] = {}
        """Per method: the count of requests in each of `REQUEST_BUCKETS` (and past the last), then the sum."""
        self.canvas_writes = Histogram(
            "canvas_live_canvas_write_seconds",
            "Time a canvas write takes: serialise, write, fsync, compare-and-swap, backup.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.registry.register(_Live(runtime, self))

    def observe_request(self, method: str, outcome: str, seconds: float) -> None:
        """Count one answered request (unknown method names are counted as `unknown`)."""
        name = method if method in self._known else "unknown"
        key = (name, outcome)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        row = self.timings.get(name)
        if row is None:
            row = self.timings[name] = [0.0] * (len(REQUEST_BUCKETS) + 2)
        row[bisect.bisect_left(REQUEST_BUCKETS, seconds)] += 1
        row[-1] += seconds

    def exposition(self) -> bytes:
        """The text exposition of every family."""
        return generate_latest(self.registry)


class _Live(Collector):
    """Families read from the running server at scrape time."""

    def __init__(self, runtime: Runtime, metrics: Metrics) -> None:
        self.runtime = runtime
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Every family, as the server stands now."""
        runtime, metrics = self.runtime, self.metrics
        requests = CounterMetricFamily(
            "canvas_live_rpc_requests",
            "JSON-RPC requests answered, by method and outcome (ok or the error's name).",
            labels=["method", "outcome"],
        )
        for (method, outcome), count in sorted(metrics.outcomes.items()):
            requests.add_metric([method, outcome], count)
        yield requests
        durations = HistogramMetricFamily(
            "canvas_live_rpc_request_seconds",
            "Time from a JSON-RPC request's dispatch to its answer, by method.",
            labels=["method"],
        )
        for method, row in sorted(metrics.timings.items()):
            cumulative = list(itertools.accumulate(row[:-1]))
            bounds = [*(str(bound) for bound in REQUEST_BUCKETS), "+Inf"]
            durations.add_metric([method], list(zip(bounds, cumulative, strict=True)), sum_value=row[-1])
        yield durations
        stats = runtime.stats()
        yield _gauge("canvas_live_connections_open", "WebSocket connections open now.", stats["connections"])
        yield _counter("canvas_live_connections", "WebSocket connections accepted.", stats["connections_total"])
        yield _counter("canvas_live_events_published", "Events published on the hub.", stats["published"])
        yield _counter("canvas_live_frames_delivered", "Frames handed to WebSocket clients.", runtime.frames_delivered)
        yield _counter(
            "canvas_live_slow_consumers_dropped", "Connections closed with 4008 (slow consumer).",
            stats["slow_consumers_dropped"],
        )  # fmt: skip
        yield _gauge("canvas_live_topics", "Hub topics held.", stats["topics"])
        yield _gauge("canvas_live_subscriptions", "Subscriptions held by all connections.", stats["subscriptions"])
        if "publish_buffered" in stats:  # the Redis broker
            yield _gauge(
                "canvas_live_hub_publish_buffered", "Events waiting to reach Redis.", stats["publish_buffered"]
            )
            yield _counter(
                "canvas_live_hub_publish_dropped", "Events dropped while Redis was unreachable (buffer full).",
                stats["publish_dropped"],
            )  # fmt: skip
        agents = runtime.agents.stats()
        yield _gauge("canvas_live_agent_calls_in_flight", "Agent call attempts running now.", agents.in_flight)
        yield _gauge("canvas_live_agent_calls_queued", "Agent calls waiting for a slot.", agents.queued)
        outcomes = CounterMetricFamily(
            "canvas_live_agent_calls", "Agent calls finished, by outcome.", labels=["backend", "outcome"]
        )
        outcomes.add_metric([agents.backend, "ok"], agents.total - agents.failed)
        outcomes.add_metric([agents.backend, "failed"], agents.failed)
        yield outcomes
        retries = CounterMetricFamily("canvas_live_agent_retries", "Agent call attempts retried.", labels=["backend"])
        retries.add_metric([agents.backend], agents.retries)
        yield retries
        circuit = GaugeMetricFamily(
            "canvas_live_agent_circuit_state", "A backend's circuit: 0 closed, 1 half open, 2 open.", labels=["backend"]
        )
        circuit.add_metric([agents.backend], CIRCUIT.get(agents.circuit, 2))
        yield circuit
        tasks = CounterMetricFamily(
            "canvas_live_tasks",
            "Background tasks created, by kind and the status they are in.",
            labels=["kind", "status"],
        )
        for (kind, status), count in sorted(runtime.tasks.tally().items()):
            tasks.add_metric([kind, status], count)
        yield tasks
        yield _counter("canvas_live_canvas_writes", "Canvas writes that landed.", stats["canvas_writes"])
        yield _counter(
            "canvas_live_canvas_rebased", "Canvas edits computed again on top of an editor's save.",
            stats["canvas_rebased"],
        )  # fmt: skip
        yield _counter(
            "canvas_live_canvas_busy", "Canvas edits refused BUSY (a save in progress).", stats["canvas_busy"]
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)
