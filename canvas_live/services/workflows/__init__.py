"""The learning workflows (DESIGN §7), each a background task over the canvas and agent services.

`Workflows` is what the transports call: it checks a request against the canvas as it is now (an
unknown canvas or node, or nothing to work on, is an error before any task exists), then creates
the task. The runners re-read the canvas when they start, since it may have changed meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence

from canvas_live.services.agents.service import AgentService
from canvas_live.services.canvas.service import CanvasService
from canvas_live.services.tasks import BackgroundTaskManager, TaskInfo
from canvas_live.services.workflows import decompose, explain, review, score


class Workflows:
    """Starts review, decompose, score and explain tasks."""

    def __init__(self, canvases: CanvasService, agents: AgentService, tasks: BackgroundTaskManager) -> None:
        self.canvases = canvases
        self.tasks = tasks
        for kind in (
            review.review_kind(canvases, agents),
            decompose.decompose_kind(canvases, agents),
            score.score_kind(canvases, agents),
            explain.explain_kind(canvases, agents),
        ):
            tasks.register(kind)

    async def review(
        self,
        canvas: str,
        node_ids: Sequence[str] | None = None,
        colors: Sequence[str] | None = None,
        *,
        start: bool = True,
    ) -> TaskInfo:
        """Schedule a review canvas for `canvas`; `start=False` leaves the task pending for the caller to start."""
        view = await self.canvases.read(canvas)
        review.select_targets(view.document, self.canvases.palette, node_ids, colors)
        params: dict[str, object] = {"canvas": view.name}
        if node_ids:
            params["node_ids"] = list(node_ids)
        if colors:
            params["colors"] = list(colors)
        return await self.tasks.create_task(review.KIND, params, canvas=view.name, start=start)

    async def decompose(self, canvas: str, node_id: str, depth: str | None = None) -> TaskInfo:
        """Schedule the decomposition of one node."""
        view = await self.canvases.read(canvas)
        plan = decompose.plan_decompose(view.document, self.canvases.palette, node_id, depth)
        params = {"canvas": view.name, "node_id": node_id, "depth": plan.depth}
        return await self.tasks.create_task(decompose.KIND, params, canvas=view.name)

    async def score(self, canvas: str, node_ids: Sequence[str] | None = None) -> TaskInfo:
        """Schedule the scoring of the canvas's explanations (all, or the given ones)."""
        view = await self.canvases.read(canvas)
        score.plan_score(view.document, self.canvases.palette, node_ids)
        params: dict[str, object] = {"canvas": view.name}
        if node_ids:
            params["node_ids"] = list(node_ids)
        return await self.tasks.create_task(score.KIND, params, canvas=view.name)

    async def explain(self, canvas: str, node_id: str, style: str) -> TaskInfo:
        """Schedule an explanation of one node in one style."""
        view = await self.canvases.read(canvas)
        explain.plan_explain(view.document, self.canvases.palette, node_id, style)
        params = {"canvas": view.name, "node_id": node_id, "style": style}
        return await self.tasks.create_task(explain.KIND, params, canvas=view.name)
