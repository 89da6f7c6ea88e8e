"""What one running server holds: its settings, services, connections and counters.

The lifespan in `server.app` builds one `Runtime` and tears it down; method bindings and routes
reach the services through it (as `Context.runtime`), never through globals.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from canvas_live import NAME, __version__
from canvas_live.protocol.errors import ErrorCode, ErrorInfo
from canvas_live.protocol.registry import Registry
from canvas_live.server.builders import build_agent_service, build_cluster, build_task_manager
from canvas_live.server.metrics import Metrics
from canvas_live.server.settings import Settings
from canvas_live.services.agents import AgentService
from canvas_live.services.canvas.service import CanvasService
from canvas_live.services.cluster import Cluster
from canvas_live.services.cluster.canvases import ClusterCanvases
from canvas_live.services.cluster.leases import ClusterSlots
from canvas_live.services.hub import Hub, Subscriber, create_hub
from canvas_live.services.tasks import BackgroundTaskManager
from canvas_live.services.workflows import Workflows, task_kinds


@dataclass(eq=False)
class Runtime:
    """The services and live state of one server process."""

    settings: Settings
    registry: Registry[Context]
    hub: Hub = field(init=False)
    canvases: CanvasService = field(init=False)
    agents: AgentService = field(init=False)
    tasks: BackgroundTaskManager = field(init=False)
    workflows: Workflows = field(init=False)
    connections: set[Subscriber] = field(default_factory=set)
    """The open WebSocket connections (each one a hub subscriber)."""
    started_at: float = field(default_factory=time.monotonic)
    connections_total: int = 0
    frames_delivered: int = 0
    ready: bool = False
    """True once every service started, false again from the start of shutdown."""
    metrics: Metrics | None = None
    batch_calls: dict[Subscriber, int] = field(default_factory=dict)
    """Agent calls in each connection's unfinished `agent.batch` tasks (for its queue cap)."""
    slow_consumers_dropped: int = 0
    openrpc: dict[str, Any] | None = None
    """`rpc.discover`'s document, built on first use (without `servers`, which name the asker's host)."""
    openapi: dict[str, Any] | None = None
    """`GET /api/v1/openapi.json`'s document, likewise."""
    cluster: Cluster | None = None
    """The shared Redis, when several processes serve as one (docs/scale-out.md)."""
    slots: ClusterSlots | None = None
    _watchers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def instance(self) -> str:
        """This process's name: `--instance`, else its host and port (its pid when the port is picked)."""
        settings = self.settings
        return settings.instance or f"{socket.gethostname()}:{settings.port or os.getpid()}"

    @property
    def uptime_s(self) -> float:
        """Seconds since start-up."""
        return time.monotonic() - self.started_at

    def hello(self) -> dict[str, str]:
        """The `server.hello` params every new connection receives first."""
        return {"name": NAME, "version": __version__, "epoch": self.hub.epoch}

    def stats(self) -> dict[str, int]:
        """Live counters: enough to see leaked connections, tasks or subscriptions from outside."""
        return {
            "connections": len(self.connections),
            "connections_total": self.connections_total,
            "slow_consumers_dropped": self.slow_consumers_dropped,
            "asyncio_tasks": len(asyncio.all_tasks()),
            "rss_bytes": _resident_bytes(),
            **self.hub.stats(),
            **self.canvases.counters,
        }

    def hold_batch(self, connection: Subscriber, task_id: str, calls: int) -> None:
        """Count a batch's calls against its connection until the task finishes (even after the client left)."""
        self.batch_calls[connection] = self.batch_calls.get(connection, 0) + calls

        async def release() -> None:
            try:
                await self.tasks.wait(task_id, None)
            finally:
                left = self.batch_calls.get(connection, 0) - calls
                if left > 0:
                    self.batch_calls[connection] = left
                else:
                    self.batch_calls.pop(connection, None)

        self._watchers.add(watcher := asyncio.create_task(release(), name=f"batch {task_id} quota"))
        watcher.add_done_callback(self._watchers.discard)

    def problems(self) -> dict[str, ErrorInfo]:
        """What does not work right now, by part: the server still serves, the rest of it works."""
        problems = {} if self.tasks.problem is None else {"tasks": self.tasks.problem}
        if self.cluster is not None and not self.cluster.reachable:
            problems["redis"] = ErrorInfo(
                int(ErrorCode.UNAVAILABLE), "UNAVAILABLE", f"Redis at {self.cluster.where} is unreachable"
            )
        return problems

    async def start(self) -> None:
        """Start the services, in dependency order, before the first connection is accepted."""
        settings = self.settings
        self.cluster = await build_cluster(settings, self.instance)
        self.hub = create_hub(settings.hub, settings.history_size, self.cluster)
        await self.hub.start()
        sharing = ClusterCanvases(self.cluster) if self.cluster is not None else None
        self.canvases = CanvasService(
            settings.vault, self.hub, settings.palette, backups=settings.canvas_backups, sharing=sharing
        )
        await self.canvases.start(demo=settings.demo)
        if self.cluster is not None:
            self.slots = ClusterSlots(self.cluster, settings.max_concurrent_agents)
        self.agents = await build_agent_service(settings, self.hub, self.slots)
        self.tasks = build_task_manager(settings, self.hub, self.cluster)
        for kind in task_kinds(self.canvases, self.agents):
            self.tasks.register(kind)
        self.workflows = Workflows(self.canvases, self.agents, self.tasks)
        await self.tasks.start()
        self.metrics = Metrics(self)
        self.registry.observe = self.metrics.observe_request
        self.canvases.on_write = self.metrics.canvas_writes.observe
        self.ready = True

    async def close(self) -> None:
        """Stop the services in the reverse order of start-up."""
        self.ready = False
        await self.tasks.close()
        await self.agents.close()
        await self.canvases.close()
        await self.hub.close()
        if self.slots is not None:
            await self.slots.close()
        if self.cluster is not None:
            await self.cluster.close()


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int:
    """The process's resident memory now (Linux `/proc`, a kernel read, no disk), or 0 elsewhere."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


@dataclass(slots=True)
class Context:
    """What a method handler is given beside its params."""

    runtime: Runtime
    http: HTTPConnection | None = None
    """The HTTP request or WebSocket handshake the request came with (its URL names this server); None
    for a request that came another way (MCP over stdio)."""
    connection: Subscriber | None = None
    """The WebSocket the request came on; None over HTTP."""
