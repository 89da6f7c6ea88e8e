"""Bindings of the learning workflows (docs/workflows.md): each answers at once with the task it scheduled."""

from __future__ import annotations

import msgspec

from canvas_live.protocol.registry import Registry
from canvas_live.server.runtime import Context
from canvas_live.services.tasks import TaskInfo
from canvas_live.services.workflows import DecomposeParams, ExplainParams, ReviewParams, ScoreParams


class Scheduled(msgspec.Struct):
    """The task a workflow request created; follow it on `task:<task_id>` or with `task.wait`."""

    task_id: str
    status: str
    message: str


def scheduled(info: TaskInfo) -> Scheduled:
    """The immediate answer to a workflow request."""
    return Scheduled(info.id, "scheduled", f"{info.kind} of {info.canvas!r} scheduled; follow task:{info.id}")


def register(registry: Registry[Context]) -> None:
    """Bind the workflow methods."""

    @registry.method("review.generate", params=ReviewParams, result=Scheduled)
    async def review_generate(params: ReviewParams, ctx: Context) -> Scheduled:
        """Build a review canvas (检验白板) of recall questions in the background."""
        return scheduled(await ctx.runtime.workflows.review(params))

    @registry.method("learn.decompose", params=DecomposeParams, result=Scheduled)
    async def learn_decompose(params: DecomposeParams, ctx: Context) -> Scheduled:
        """Break a node into guiding questions with empty answer nodes beside it."""
        return scheduled(await ctx.runtime.workflows.decompose(params))

    @registry.method("learn.score", params=ScoreParams, result=Scheduled)
    async def learn_score(params: ScoreParams, ctx: Context) -> Scheduled:
        """Score the learner's explanations and recolour the questions they answer."""
        return scheduled(await ctx.runtime.workflows.score(params))

    @registry.method("learn.explain", params=ExplainParams, result=Scheduled)
    async def learn_explain(params: ExplainParams, ctx: Context) -> Scheduled:
        """Write an explanation of a node as a note and link it on the canvas."""
        return scheduled(await ctx.runtime.workflows.explain(params))
