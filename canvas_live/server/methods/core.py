"""Bindings of the transport-level methods: ping, server.info, rpc.discover, subscribe, unsubscribe."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from starlette.requests import HTTPConnection

from canvas_live import NAME, __version__
from canvas_live.protocol.errors import ErrorCode, ErrorInfo, RpcError, invalid_params
from canvas_live.protocol.openrpc import build_openrpc
from canvas_live.protocol.registry import Registry
from canvas_live.server.events import EVENTS
from canvas_live.server.runtime import Context
from canvas_live.services.agents import AgentStats
from canvas_live.services.hub import SubscribeResult, is_valid_topic


class SubscribeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`subscribe` params: topics, and for a resume the last seq seen per topic with its epoch."""

    topics: Annotated[
        list[str],
        msgspec.Meta(description="Topics to receive: `tasks`, `task:<id>`, `canvases`, `canvas:<name>`, `agents`."),
    ]
    since: Annotated[
        dict[str, int] | None,
        msgspec.Meta(description="For a resume: the last `seq` seen per topic; what came after is replayed first."),
    ] = None
    epoch: Annotated[
        str | None, msgspec.Meta(description="The `epoch` of the `server.hello` the `since` seqs belong to.")
    ] = None


class UnsubscribeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`unsubscribe` params."""

    topics: Annotated[list[str], msgspec.Meta(description="Topics to stop receiving.")]


class UnsubscribeResult(msgspec.Struct):
    """The topics the connection was subscribed to and no longer is."""

    unsubscribed: list[str]


class ServerInfo(msgspec.Struct):
    """`server.info` result."""

    name: str
    version: str
    epoch: str
    palette: str
    limits: dict[str, int]
    agents: AgentStats
    stats: dict[str, int]
    problems: dict[str, ErrorInfo] = msgspec.field(default_factory=dict)
    palette_hint: str | None = None
    """Set when the vault's canvases plainly follow the other colour convention: the flag to use."""
    instance: str = ""
    """This process's name among those sharing one Redis (its host and port when alone)."""
    engine: str = "memory"
    """What carries events and tasks between processes: `memory` (one process) or `redis`."""


def websocket_url(http: HTTPConnection) -> str:
    """This server's WebSocket URL as the asker reached it: its host, `wss` behind `https`."""
    url = http.url_for("ws")
    return str(url.replace(scheme="wss" if url.scheme in ("https", "wss") else "ws"))


def register(registry: Registry[Context]) -> None:
    """Bind the transport-level methods."""

    @registry.method("ping", result=str, inline=True)
    async def ping(params: None, ctx: Context) -> str:
        """Answer `pong`: a liveness and latency probe."""
        return "pong"

    @registry.method("server.info", result=ServerInfo, inline=True)
    async def server_info(params: None, ctx: Context) -> ServerInfo:
        """Describe this server: version, epoch, palette, limits, agent capacity and live counters."""
        runtime = ctx.runtime
        settings = runtime.settings
        limits = {
            "max_message_size": settings.max_message_size,
            "max_batch": settings.max_batch,
            "max_inflight": settings.max_inflight,
            "max_subscriptions": settings.max_subscriptions,
            "max_connections": settings.max_connections,
            "send_queue": settings.send_queue,
            "history_size": settings.history_size,
        }
        return ServerInfo(
            NAME,
            __version__,
            runtime.hub.epoch,
            settings.palette,
            limits,
            runtime.agents.stats(),
            runtime.stats(),
            runtime.problems(),
            runtime.canvases.palette_hint,
            runtime.instance,
            runtime.hub.engine,
        )

    @registry.method("rpc.discover", result=dict[str, Any], inline=True)
    async def discover(params: None, ctx: Context) -> dict[str, Any]:
        """The OpenRPC document of every method and event, generated from the registered types."""
        runtime = ctx.runtime
        if runtime.openrpc is None:
            # Any method may meet the connection's in-flight limit: a lone inline call never does,
            # but one inside a batch can.
            common = (ErrorCode.OVERLOADED,)
            runtime.openrpc = build_openrpc(runtime.registry, NAME, __version__, events=EVENTS, common_errors=common)
        if ctx.http is None:
            return runtime.openrpc
        return {**runtime.openrpc, "servers": [{"name": NAME, "url": websocket_url(ctx.http)}]}

    @registry.method("subscribe", params=SubscribeParams, result=SubscribeResult, websocket_only=True)
    async def subscribe(params: SubscribeParams, ctx: Context) -> SubscribeResult:
        """Receive the events of the given topics; with `since` and `epoch`, replay what was missed."""
        assert ctx.connection is not None
        hub = ctx.runtime.hub
        for index, topic in enumerate(params.topics):
            if not is_valid_topic(topic):
                raise invalid_params(
                    f"unknown topic {topic!r}: use tasks, canvases, agents, task:<id> or canvas:<name>",
                    f"topics[{index}]",
                )
        limit = ctx.runtime.settings.max_subscriptions
        new = set(params.topics) - hub.topics_of(ctx.connection)  # re-subscribing to a held topic never counts
        if hub.subscription_count(ctx.connection) + len(new) > limit:
            raise RpcError(
                ErrorCode.INVALID_PARAMS, f"a connection may hold at most {limit} subscriptions", field="topics"
            )
        return await hub.subscribe(ctx.connection, params.topics, params.since, params.epoch)

    @registry.method(
        "unsubscribe", params=UnsubscribeParams, result=UnsubscribeResult, websocket_only=True, inline=True
    )
    async def unsubscribe(params: UnsubscribeParams, ctx: Context) -> UnsubscribeResult:
        """Stop receiving the given topics."""
        assert ctx.connection is not None
        return UnsubscribeResult(ctx.runtime.hub.unsubscribe(ctx.connection, params.topics))
