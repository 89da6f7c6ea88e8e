"""The background work a client can start: the learning workflows and `agent.batch`, over the services.

This layer composes agents, canvases and tasks (the agents know nothing of tasks). Each kind is
declared once, as a `TaskKind` with its params type, and `task_kinds` lists them all: the one
place where kinds are registered. `Workflows` is what the transports call: it checks a request
against the canvas as it is now (an unknown canvas or node, or nothing to work on, is an error
before any task exists), then creates the task with the request's params, canonicalised. The
runners re-read the canvas when they start, since it may have changed meanwhile.
"""

from __future__ import annotations

from typing import Any

import msgspec

from canvas_live.services.agents.service import AgentService
from canvas_live.services.canvas.service import CanvasService
from canvas_live.services.tasks import BackgroundTaskManager, TaskInfo, TaskKind
from canvas_live.services.workflows import batch, decompose, explain, review, score
from canvas_live.services.workflows.batch import BatchParams
from canvas_live.services.workflows.decompose import DecomposeParams
from canvas_live.services.workflows.explain import ExplainParams
from canvas_live.services.workflows.review import ReviewParams
from canvas_live.services.workflows.score import ScoreParams

__all__ = ["BatchParams", "DecomposeParams", "ExplainParams", "ReviewParams", "ScoreParams", "Workflows", "task_kinds"]


def task_kinds(canvases: CanvasService, agents: AgentService) -> list[TaskKind[Any]]:
    """Every kind of background task this server runs."""
    return [
        batch.batch_kind(agents),
        review.review_kind(canvases, agents),
        decompose.decompose_kind(canvases, agents),
        score.score_kind(canvases, agents),
        explain.explain_kind(canvases, agents),
    ]


class Workflows:
    """Checks and starts review, decompose, score, explain and batch tasks."""

    def __init__(self, canvases: CanvasService, agents: AgentService, tasks: BackgroundTaskManager) -> None:
        self.canvases = canvases
        self.agents = agents
        self.tasks = tasks

    async def review(self, params: ReviewParams, *, start: bool = True) -> TaskInfo:
        """Schedule a review canvas; `start=False` leaves the task pending for the caller to start."""
        view = await self.canvases.read(params.canvas)
        review.select_targets(view.document, self.canvases.palette, params.node_ids, params.colors)
        if params.name is not None:
            await self.canvases.check_free(params.name)
        params = msgspec.structs.replace(params, canvas=view.name)
        return await self.tasks.create_task(review.KIND, params, canvas=view.name, start=start)

    async def decompose(self, params: DecomposeParams) -> TaskInfo:
        """Schedule the decomposition of one node (its depth decided now, from its colour)."""
        view = await self.canvases.read(params.canvas)
        plan = decompose.plan_decompose(view.document, self.canvases.palette, params.node_id, params.depth)
        params = msgspec.structs.replace(params, canvas=view.name, depth=plan.depth)
        return await self.tasks.create_task(decompose.KIND, params, canvas=view.name)

    async def score(self, params: ScoreParams) -> TaskInfo:
        """Schedule the scoring of the canvas's explanations (all, or the given ones)."""
        view = await self.canvases.read(params.canvas)
        score.plan_score(view.document, self.canvases.palette, params.node_ids)
        params = msgspec.structs.replace(params, canvas=view.name)
        return await self.tasks.create_task(score.KIND, params, canvas=view.name)

    async def explain(self, params: ExplainParams) -> TaskInfo:
        """Schedule an explanation of one node in one style."""
        view = await self.canvases.read(params.canvas)
        explain.plan_explain(view.document, self.canvases.palette, params.node_id, params.style)
        params = msgspec.structs.replace(params, canvas=view.name)
        return await self.tasks.create_task(explain.KIND, params, canvas=view.name)

    async def batch(self, params: BatchParams) -> TaskInfo:
        """Schedule many agent calls as one task, every call checked first."""
        batch.check_calls(self.agents, params)
        return await self.tasks.create_task(batch.KIND, params)
