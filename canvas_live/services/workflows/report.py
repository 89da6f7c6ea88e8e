"""Reporting agent calls from inside a task: each running call's tokens, each finished call as it ends."""

from __future__ import annotations

from functools import partial
from typing import Any

import msgspec

from canvas_live.services.agents.calls import AgentRequest, AgentResult
from canvas_live.services.agents.service import TokensSeen
from canvas_live.services.tasks import TaskContext


class ResultReporter:
    """Publishes each finished agent call as `agent.result` on its task's topic and counts it as a step,
    and each running call's token count as `agent.progress`.

    `key_field` names what a call's key is in `agent.progress`: the node it is about (`node_id`)
    in the learning workflows, the caller's own `key` in `agent.batch`.
    """

    def __init__(self, ctx: TaskContext, total: int, message: str | None = None, key_field: str = "node_id") -> None:
        self.ctx = ctx
        self.total = total
        self.done = 0
        self.key_field = key_field
        ctx.progress(0, total, message)

    def __call__(self, result: AgentResult) -> None:
        """Report one call's end (the `on_result` of `AgentService.call_agents_batch`)."""
        self.done += 1
        self.ctx.publish("agent.result", msgspec.to_builtins(result))
        outcome = result.error.error if result.error else "ok"
        self.ctx.progress(self.done, self.total, f"{result.key or result.agent}: {outcome}")

    def tokens(self, request: AgentRequest, key: str | None, count: int) -> None:
        """Report a running call's token count (the `on_tokens` of `AgentService.call_agents_batch`,
        which already throttles it)."""
        fields: dict[str, Any] = {"agent": request.definition.name, "tokens": count}
        if key is not None:
            fields[self.key_field] = key
        self.ctx.publish("agent.progress", fields)

    def tokens_of(self, request: AgentRequest, key: str | None) -> TokensSeen:
        """`tokens` for one call, as `AgentService.run` takes it."""
        return partial(self.tokens, request, key)
