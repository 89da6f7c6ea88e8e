"""Bindings of the `task.*` methods (docs/protocol.md, docs/architecture.md) to the BackgroundTaskManager."""

from __future__ import annotations

from typing import Annotated

import msgspec

from canvas_live.protocol.registry import Registry
from canvas_live.server.runtime import Context
from canvas_live.services.tasks import TaskInfo, TaskPage, TaskQuery, TaskStatus
from canvas_live.services.tasks.models import MAX_PAGE


class TaskIdParams(msgspec.Struct, forbid_unknown_fields=True):
    """A task by id."""

    id: str


class TaskListParams(msgspec.Struct, forbid_unknown_fields=True):
    """`task.list` filters; `before` is the `next` cursor of the previous page."""

    status: TaskStatus | None = None
    kind: str | None = None
    canvas: str | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = 50
    before: str | None = None

    def query(self) -> TaskQuery:
        """The manager's query for these params."""
        return TaskQuery(self.status, self.kind, self.canvas, self.limit, self.before)


class WaitParams(msgspec.Struct, forbid_unknown_fields=True):
    """`task.wait`: how long to wait, at most, for the task to finish."""

    id: str
    timeout: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 30.0


def register(registry: Registry[Context]) -> None:
    """Bind the task methods."""

    @registry.method("task.get", params=TaskIdParams, result=TaskInfo)
    async def task_get(params: TaskIdParams, ctx: Context) -> TaskInfo:
        """A task's current state."""
        return await ctx.runtime.tasks.get(params.id)

    @registry.method("task.list", params=TaskListParams, result=TaskPage)
    async def task_list(params: TaskListParams, ctx: Context) -> TaskPage:
        """Tasks, newest first, filtered by status, kind or canvas; page with `before`."""
        return await ctx.runtime.tasks.list(params.query())

    @registry.method("task.cancel", params=TaskIdParams, result=TaskInfo)
    async def task_cancel(params: TaskIdParams, ctx: Context) -> TaskInfo:
        """Cancel a pending or running task; a finished one is a conflict naming its status."""
        return await ctx.runtime.tasks.cancel(params.id)

    @registry.method("task.wait", params=WaitParams, result=TaskInfo)
    async def task_wait(params: WaitParams, ctx: Context) -> TaskInfo:
        """The task once it has finished, or as it stands when the timeout passes."""
        return await ctx.runtime.tasks.wait(params.id, params.timeout)
