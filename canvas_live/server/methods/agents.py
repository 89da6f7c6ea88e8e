"""Bindings of the `agent.*` methods (docs/protocol.md, docs/architecture.md) to the AgentService.

`agent.call` answers when the call ends (other requests of the connection go on meanwhile); a call
that fails after its retries is answered with its contract error (`AGENT_FAILED`, `TIMEOUT`,
`CIRCUIT_OPEN`, `UNAVAILABLE`), `data.category` and `data.attempts` telling why and how often.
`agent.batch` checks every call first (unknown agent, input that does not fit), then schedules one
task whose calls are pushed one by one as `agent.result` on `task:<id>`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from canvas_live.protocol.errors import ErrorCode, RpcError
from canvas_live.protocol.registry import Registry
from canvas_live.server.methods.tasks import SCHEDULE_ERRORS
from canvas_live.server.runtime import Context
from canvas_live.services.agents import AgentInfo, AgentResult
from canvas_live.services.workflows import BatchParams


class CallParams(msgspec.Struct, forbid_unknown_fields=True):
    """`agent.call`: the agent, its input, and optionally a time limit for the whole call (retries included)."""

    agent: Annotated[str, msgspec.Meta(description="The agent's name, as `agent.list` gives it.")]
    input: Annotated[
        dict[str, Any], msgspec.Meta(description="The agent's input; each agent checks its own shape.")
    ] = {}
    timeout: Annotated[
        Annotated[float, msgspec.Meta(gt=0, le=3600)] | None,
        msgspec.Meta(description="Seconds for the whole call, retries included; the server's default otherwise."),
    ] = None


class BatchScheduled(msgspec.Struct):
    """A background task was created: follow it on `task:<id>` or with `task.wait`."""

    task_id: str
    status: str = "scheduled"


CALL_ERRORS = (
    ErrorCode.NOT_FOUND,
    ErrorCode.AGENT_FAILED,
    ErrorCode.CIRCUIT_OPEN,
    ErrorCode.TIMEOUT,
    ErrorCode.UNAVAILABLE,
)
"""`agent.call`: an unknown agent, or how the call failed (a backend not configured is UNAVAILABLE)."""
BATCH_ERRORS = (ErrorCode.NOT_FOUND, ErrorCode.OVERLOADED, *SCHEDULE_ERRORS)
"""`agent.batch`: an unknown agent in a call, the agent call queue full, or the task not recorded."""


def overloaded(why: str, limit: int) -> RpcError:
    """OVERLOADED for a batch that would take the agent call queue past `limit`: try again later."""
    return RpcError(ErrorCode.OVERLOADED, f"{why}: at most {limit} may be queued; try again later", limit=limit,
                    retry_after=1.0)  # fmt: skip


def register(registry: Registry[Context]) -> None:
    """Bind the agent methods."""

    @registry.method("agent.list", result=list[AgentInfo])
    async def agent_list(params: None, ctx: Context) -> list[AgentInfo]:
        """Every agent this server can call, with its output kind and the backend that runs it."""
        return ctx.runtime.agents.list_agents()

    @registry.method("agent.call", params=CallParams, result=AgentResult, errors=CALL_ERRORS)
    async def agent_call(params: CallParams, ctx: Context) -> AgentResult:
        """Call one agent and answer with its result when the call ends."""
        return await ctx.runtime.agents.call_agent(params.agent, params.input, timeout=params.timeout)

    @registry.method("agent.batch", params=BatchParams, result=BatchScheduled, errors=BATCH_ERRORS)
    async def agent_batch(params: BatchParams, ctx: Context) -> BatchScheduled:
        """Run many agent calls as one background task; each result is pushed as `agent.result`."""
        runtime, calls = ctx.runtime, len(params.calls)
        agents = runtime.agents.stats()
        busy = agents.queued + agents.in_flight
        if busy + calls > runtime.settings.max_queued_agent_calls:
            raise overloaded(
                f"{busy} agent calls are waiting or running server-wide", runtime.settings.max_queued_agent_calls
            )
        mine = runtime.batch_calls.get(ctx.connection, 0) if ctx.connection is not None else 0
        if mine + calls > runtime.settings.max_connection_agent_calls:
            raise overloaded(
                f"this connection's unfinished batches hold {mine} agent calls",
                runtime.settings.max_connection_agent_calls,
            )
        info = await runtime.workflows.batch(params)
        if ctx.connection is not None:
            runtime.hold_batch(ctx.connection, info.id, calls)
        return BatchScheduled(info.id)
