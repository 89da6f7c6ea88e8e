"""The `agent.batch` task: many agent calls at once, each result pushed as it arrives.

The calls run concurrently through the AgentService (so the server-wide limit applies); every one
that ends is published as `agent.result` on `task:<id>` and counted in the progress. One failing
call never fails the task: the result lists every call's `AgentResult`, failures included.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.agents.calls import AgentResult
from services.agents.service import AgentService
from services.tasks import TaskContext, TaskKind

KIND = "agent.batch"


def batch_kind(agents: AgentService) -> TaskKind:
    """The `agent.batch` task kind bound to `agents`."""

    async def run(ctx: TaskContext) -> dict[str, Any]:
        calls = ctx.params["calls"]
        requests = [
            (agents.prepare(call["agent"], call.get("input", {}), f"calls[{index}].input"), call.get("key"))
            for index, call in enumerate(calls)
        ]
        total = len(requests)
        done = 0
        ctx.progress(0, total)

        def on_result(result: AgentResult) -> None:
            nonlocal done
            done += 1
            ctx.publish("agent.result", msgspec.to_builtins(result))
            outcome = "ok" if result.error is None else result.error.error
            ctx.progress(done, total, f"{result.agent}: {outcome}")

        results = await agents.call_agents_batch(requests, on_result)
        succeeded = sum(result.ok for result in results)
        return {"results": results, "succeeded": succeeded, "failed": total - succeeded}

    return TaskKind(KIND, run)
