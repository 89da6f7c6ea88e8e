"""Prometheus metrics: `GET /metrics`, in the text exposition Prometheus scrapes.

Nearly everything is read at scrape time from counters the server keeps anyway (connections, the
hub, agents, tasks, canvases), so the hot paths pay nothing for it. The two exceptions are a
counter and a histogram observation per JSON-RPC request and per canvas write, which the
registry and the canvas service report through a callback. Each server has its own
`CollectorRegistry`, so several servers in one process (the test suite) never share figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from canvas_live.server.runtime import Runtime

CIRCUIT = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}
"""A circuit's state as a number: 0 closed, 1 half open (probing), 2 open."""


class Metrics:
    """The metric families of one server."""

    def __init__(self, runtime: Runtime) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        methods = set(runtime.registry.methods)
        self._known = methods
        self.requests = Counter(
            "canvas_live_rpc_requests",
            "JSON-RPC requests answered, by method and outcome (ok or the error's name).",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "canvas_live_rpc_request_seconds",
            "Time from a JSON-RPC request's dispatch to its answer, by method.",
            ["method"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.canvas_writes = Histogram(
            "canvas_live_canvas_write_seconds",
            "Time a canvas write takes: serialise, write, fsync, compare-and-swap, backup.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.registry.register(_Live(runtime))

    def observe_request(self, method: str, outcome: str, seconds: float) -> None:
        """Count one answered request (unknown method names are counted as `unknown`)."""
        name = method if method in self._known else "unknown"
        self.requests.labels(name, outcome).inc()
        self.durations.labels(name).observe(seconds)

    def exposition(self) -> bytes:
        """The text exposition of every family."""
        return generate_latest(self.registry)


class _Live(Collector):
    """Families read from the running server at scrape time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        """Every family, as the server stands now."""
        runtime = self.runtime
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
