"""The `agent.batch` task: many agent calls at once, each result pushed as it arrives.

The calls run concurrently through the AgentService (so the server-wide limit applies); every one
that ends is published as `agent.result` on `task:<id>` and counted in the progress. One failing
call never fails the task: the result lists every call's `AgentResult`, failures included.
"""

from __future__ import annotations

from typing import Any

import msgspec

from canvas_live.services.agents.calls import AgentResult
from canvas_live.services.agents.service import AgentService
from canvas_live.services.tasks import TaskContext, TaskKind

KIND = "agent.batch"


class ResultReporter:
    """Publishes each finished agent call as `agent.result` on its task's topic and counts it as a step."""

    def __init__(self, ctx: TaskContext, total: int, message: str | None = None) -> None:
        self.ctx = ctx
        self.total = total
        self.done = 0
        ctx.progress(0, total, message)

    def __call__(self, result: AgentResult) -> None:
        """Report one call's end (the `on_result` of `AgentService.call_agents_batch`)."""
        self.done += 1
        self.ctx.publish("agent.result", msgspec.to_builtins(result))
        outcome = result.error.error if result.error else "ok"
        self.ctx.progress(self.done, self.total, f"{result.key or result.agent}: {outcome}")


def batch_kind(agents: AgentService) -> TaskKind:
    """The `agent.batch` task kind bound to `agents`."""

    async def run(ctx: TaskContext) -> dict[str, Any]:
        calls = ctx.params["calls"]
        requests = [
            (agents.prepare(call["agent"], call.get("input", {}), f"calls[{index}].input"), call.get("key"))
            for index, call in enumerate(calls)
        ]
        results = await agents.call_agents_batch(requests, ResultReporter(ctx, len(requests)))
        succeeded = sum(result.ok for result in results)
        return {"results": results, "succeeded": succeeded, "failed": len(requests) - succeeded}

    return TaskKind(KIND, run)
