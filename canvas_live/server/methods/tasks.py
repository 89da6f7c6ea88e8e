"""Bindings of the `task.*` methods (docs/protocol.md, docs/architecture.md) to the BackgroundTaskManager."""

from __future__ import annotations

from typing import Annotated

import msgspec

from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.registry import Registry
from canvas_live.server.runtime import Context
from canvas_live.services.tasks import TaskInfo, TaskPage, TaskQuery, TaskStatus
from canvas_live.services.tasks.models import MAX_PAGE

TaskId = Annotated[str, msgspec.Meta(description="The task's id, as the method that scheduled it answered.")]


class TaskIdParams(msgspec.Struct, forbid_unknown_fields=True):
    """A task by id."""

    id: TaskId


class TaskListParams(msgspec.Struct, forbid_unknown_fields=True):
    """`task.list` filters; `before` is the `next` cursor of the previous page."""

    status: Annotated[TaskStatus | None, msgspec.Meta(description="Only tasks in this status.")] = None
    kind: Annotated[str | None, msgspec.Meta(description="Only tasks of this kind (`review.generate`, …).")] = None
    canvas: Annotated[str | None, msgspec.Meta(description="Only tasks about this canvas.")] = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="At most this many tasks on the page.")] = 50
    before: Annotated[
        str | None, msgspec.Meta(description="The `next` cursor of the previous page: the tasks older than it.")
    ] = None

    def query(self) -> TaskQuery:
        """The manager's query for these params."""
        return TaskQuery(self.status, self.kind, self.canvas, self.limit, self.before)


class WaitParams(msgspec.Struct, forbid_unknown_fields=True):
    """`task.wait`: how long to wait, at most, for the task to finish."""

    id: TaskId
    timeout: Annotated[
        float, msgspec.Meta(ge=0, le=3600, description="Seconds to wait at most; then the task as it stands.")
    ] = 30.0


LOOKUP_ERRORS = (ErrorCode.NOT_FOUND, ErrorCode.STORAGE, ErrorCode.UNAVAILABLE)
"""A task by id: unknown (or pruned), a task store the disk will not let be read, or Redis away."""
SCHEDULE_ERRORS = (ErrorCode.UNAVAILABLE, ErrorCode.STORAGE)
"""Scheduling a task: the server is shutting down, or the task store's disk refuses the record."""


def register(registry: Registry[Context]) -> None:
    """Bind the task methods."""

    @registry.method("task.get", params=TaskIdParams, result=TaskInfo, errors=LOOKUP_ERRORS)
    async def task_get(params: TaskIdParams, ctx: Context) -> TaskInfo:
        """A task's current state."""
        return await ctx.runtime.tasks.get(params.id)

    @registry.method(
        "task.list", params=TaskListParams, result=TaskPage, errors=(ErrorCode.STORAGE, ErrorCode.UNAVAILABLE)
    )
    async def task_list(params: TaskListParams, ctx: Context) -> TaskPage:
        """Tasks, newest first, filtered by status, kind or canvas; page with `before`."""
        return await ctx.runtime.tasks.list(params.query())

    @registry.method("task.cancel", params=TaskIdParams, result=TaskInfo, errors=(*LOOKUP_ERRORS, ErrorCode.CONFLICT))
    async def task_cancel(params: TaskIdParams, ctx: Context) -> TaskInfo:
        """Cancel a pending or running task; a finished one is a conflict naming its status."""
        return await ctx.runtime.tasks.cancel(params.id)

    @registry.method("task.wait", params=WaitParams, result=TaskInfo, errors=LOOKUP_ERRORS)
    async def task_wait(params: WaitParams, ctx: Context) -> TaskInfo:
        """The task once it has finished, or as it stands when the timeout passes."""
        return await ctx.runtime.tasks.wait(params.id, params.timeout)
