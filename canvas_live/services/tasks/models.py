"""Task records as the wire and the store carry them (`TaskInfo`, docs/protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from canvas_live.protocol.errors import ErrorCode, ErrorInfo


class TaskStatus(StrEnum):
    """pending -> running -> completed | failed | cancelled; the last three never change."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True once the task has finished one way or another."""
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)


class Progress(msgspec.Struct, omit_defaults=True):
    """How far a task has come; replaced as a whole on every update, never mutated."""

    done: int
    total: int
    message: str | None = None


class TaskInfo(msgspec.Struct, omit_defaults=True):
    """One background task: what it is, where it stands, and how it ended."""

    id: str
    kind: str
    status: TaskStatus
    progress: Progress
    params: dict[str, Any]
    created_at: str
    canvas: str | None = None
    result: Any = None
    error: ErrorInfo | None = None
    started_at: str | None = None
    finished_at: str | None = None


class TaskPage(msgspec.Struct, omit_defaults=True):
    """One page of `task.list`, newest first; `next` is the cursor (`before`) of the following page."""

    tasks: list[TaskInfo]
    next: str | None = None


MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class TaskQuery:
    """Filters and cursor of `task.list`."""

    status: TaskStatus | None = None
    kind: str | None = None
    canvas: str | None = None
    limit: int = 50
    before: str | None = None


def interrupted(message: str) -> ErrorInfo:
    """The error of a task whose server stopped under it (a crash, or a shutdown past its grace)."""
    return ErrorInfo(int(ErrorCode.CANCELLED), "INTERRUPTED", message)
