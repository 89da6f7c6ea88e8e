"""Background tasks: the manager, the task records and the store they are kept in."""

from __future__ import annotations

from canvas_live.services.tasks.manager import BackgroundTaskManager, Runner, TaskContext, TaskKind, TaskManagerConfig
from canvas_live.services.tasks.models import Progress, TaskInfo, TaskPage, TaskQuery, TaskStatus
from canvas_live.services.tasks.store import TaskStore, create_task_store

__all__ = [
    "BackgroundTaskManager",
    "Progress",
    "Runner",
    "TaskContext",
    "TaskInfo",
    "TaskKind",
    "TaskManagerConfig",
    "TaskPage",
    "TaskQuery",
    "TaskStatus",
    "TaskStore",
    "create_task_store",
]
