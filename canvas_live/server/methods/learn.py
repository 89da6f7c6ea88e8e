"""Bindings of the learning workflows (docs/workflows.md): each answers at once with the task it scheduled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.registry import Registry
from canvas_live.server.methods.canvas import READ_ERRORS
from canvas_live.server.methods.tasks import SCHEDULE_ERRORS
from canvas_live.server.runtime import Context
from canvas_live.services.tasks import TaskInfo
from canvas_live.services.workflows import DecomposeParams, ExplainParams, ReviewParams, ScoreParams, Workflows


class Scheduled(msgspec.Struct):
    """The task a workflow request created; follow it on `task:<task_id>` or with `task.wait`."""

    task_id: str
    status: str
    message: str


def scheduled(info: TaskInfo) -> Scheduled:
    """The immediate answer to a workflow request."""
    return Scheduled(info.id, "scheduled", f"{info.kind} of {info.canvas!r} scheduled; follow task:{info.id}")


Start = Callable[[Workflows, Any], Awaitable[TaskInfo]]

ERRORS = (*READ_ERRORS, *SCHEDULE_ERRORS)
"""Each workflow reads its canvas (a node that is missing is NOT_FOUND, one with nothing to work on
-32602), then records its task."""

WORKFLOWS: tuple[tuple[str, type[msgspec.Struct], Start, str, tuple[ErrorCode, ...]], ...] = (
    ("review.generate", ReviewParams, Workflows.review,
     "Build a review canvas (检验白板) of recall questions in the background.",
     (*ERRORS, ErrorCode.CONFLICT)),  # the `name` asked for is taken
    ("learn.decompose", DecomposeParams, Workflows.decompose,
     "Break a node into guiding questions with empty answer nodes beside it.", ERRORS),
    ("learn.score", ScoreParams, Workflows.score,
     "Score the learner's explanations and recolour the questions they answer.", ERRORS),
    ("learn.explain", ExplainParams, Workflows.explain,
     "Write an explanation of a node as a note and link it on the canvas.", ERRORS),
)  # fmt: skip
"""Each workflow method: its name, its params (the task kind's), what starts it, its summary and errors."""


def _binding(start: Start, summary: str) -> Callable[[Any, Context], Awaitable[Scheduled]]:
    async def handle(params: Any, ctx: Context) -> Scheduled:
        return scheduled(await start(ctx.runtime.workflows, params))

    handle.__doc__ = summary
    return handle


def register(registry: Registry[Context]) -> None:
    """Bind the workflow methods."""
    for name, params, start, summary, errors in WORKFLOWS:
        registry.method(name, params=params, result=Scheduled, errors=errors)(_binding(start, summary))
