"""The `agent.batch` task: many agent calls at once, each result pushed as it arrives.

The calls run concurrently through the AgentService (so the server-wide limit applies); every one
that ends is published as `agent.result` on `task:<id>` and counted in the progress. One failing
call never fails the task: the result lists every call's `AgentResult`, failures included.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from canvas_live.protocol.errors import RpcError
from canvas_live.services.agents.service import AgentService
from canvas_live.services.tasks import TaskContext, TaskKind
from canvas_live.services.workflows.report import ResultReporter

KIND = "agent.batch"
MAX_BATCH_CALLS = 1000


class BatchCall(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One call of a batch; `key` comes back in its `AgentResult` to match results to calls."""

    agent: Annotated[str, msgspec.Meta(description="The agent's name, as `agent.list` gives it.")]
    input: Annotated[dict[str, Any], msgspec.Meta(description="The agent's input.")] = {}
    key: Annotated[str | None, msgspec.Meta(description="Any text, returned in this call's `AgentResult`.")] = None


class BatchParams(msgspec.Struct, forbid_unknown_fields=True):
    """`agent.batch`: the calls to run concurrently as one background task."""

    calls: Annotated[
        list[BatchCall],
        msgspec.Meta(min_length=1, max_length=MAX_BATCH_CALLS, description="The agent calls, run concurrently."),
    ]


def check_calls(agents: AgentService, params: BatchParams) -> None:
    """Every call names an agent and gives it input that fits, or -32602 naming the call."""
    for index, call in enumerate(params.calls):
        try:
            agents.prepare(call.agent, call.input, f"calls[{index}].input")
        except RpcError as exc:
            exc.data.setdefault("field", f"calls[{index}].agent")
            raise


def batch_kind(agents: AgentService) -> TaskKind[BatchParams]:
    """The `agent.batch` task kind bound to `agents`."""

    async def run(ctx: TaskContext, params: BatchParams) -> dict[str, Any]:
        requests = [
            (agents.prepare(call.agent, call.input, f"calls[{index}].input"), call.key)
            for index, call in enumerate(params.calls)
        ]
        report = ResultReporter(ctx, len(requests), key_field="key")
        results = await agents.call_agents_batch(requests, report, report.tokens)
        succeeded = sum(result.ok for result in results)
        return {"results": results, "succeeded": succeeded, "failed": len(requests) - succeeded}

    return TaskKind(KIND, BatchParams, run)
