"""Reporting agent calls from inside a task: each finished call is pushed and counted as it ends."""

from __future__ import annotations

import msgspec

from canvas_live.services.agents.calls import AgentResult
from canvas_live.services.tasks import TaskContext


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
