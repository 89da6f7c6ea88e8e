"""Bindings of the learning workflows (DESIGN §3.2, §7): each answers at once with the task it scheduled."""

from __future__ import annotations

from typing import Literal

import msgspec

from canvas_live.protocol.registry import Registry
from canvas_live.server.runtime import Context
from canvas_live.services.tasks import TaskInfo


class ReviewParams(msgspec.Struct, forbid_unknown_fields=True):
    """`review.generate`: the source canvas; by default its red and purple text nodes."""

    canvas: str
    node_ids: list[str] | None = None
    colors: list[str] | None = None


class DecomposeParams(msgspec.Struct, forbid_unknown_fields=True):
    """`learn.decompose`: one node; `depth` defaults to basic for red, deep for purple."""

    canvas: str
    node_id: str
    depth: Literal["basic", "deep"] | None = None


class ScoreParams(msgspec.Struct, forbid_unknown_fields=True):
    """`learn.score`: the explanations to score; by default every yellow node with text."""

    canvas: str
    node_ids: list[str] | None = None


class ExplainParams(msgspec.Struct, forbid_unknown_fields=True):
    """`learn.explain`: one node and one of the six explanation styles."""

    canvas: str
    node_id: str
    style: str


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
        return scheduled(await ctx.runtime.workflows.review(params.canvas, params.node_ids, params.colors))

    @registry.method("learn.decompose", params=DecomposeParams, result=Scheduled)
    async def learn_decompose(params: DecomposeParams, ctx: Context) -> Scheduled:
        """Break a node into guiding questions with empty answer nodes beside it."""
        return scheduled(await ctx.runtime.workflows.decompose(params.canvas, params.node_id, params.depth))

    @registry.method("learn.score", params=ScoreParams, result=Scheduled)
    async def learn_score(params: ScoreParams, ctx: Context) -> Scheduled:
        """Score the learner's explanations and recolour the questions they answer."""
        return scheduled(await ctx.runtime.workflows.score(params.canvas, params.node_ids))

    @registry.method("learn.explain", params=ExplainParams, result=Scheduled)
    async def learn_explain(params: ExplainParams, ctx: Context) -> Scheduled:
        """Write an explanation of a node as a note and link it on the canvas."""
        return scheduled(await ctx.runtime.workflows.explain(params.canvas, params.node_id, params.style))
