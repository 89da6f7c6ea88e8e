"""What a log line is about: the request, its method and peer, the task, the canvas.

Each layer sets what it knows in a context variable while it works (the connection its peer, the
registry a request's id and method, the task manager a task's id, the canvas service a canvas), so
every line logged meanwhile, by any module, can carry them without being handed them. Background
work started by a request inherits the request's context, as asyncio tasks copy it.
"""

from __future__ import annotations

import itertools
from contextvars import ContextVar
from typing import Any

peer: ContextVar[str | None] = ContextVar("peer", default=None)
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
method: ContextVar[str | None] = ContextVar("method", default=None)
task_id: ContextVar[str | None] = ContextVar("task_id", default=None)
canvas: ContextVar[str | None] = ContextVar("canvas", default=None)

FIELDS = {"peer": peer, "request_id": request_id, "method": method, "task_id": task_id, "canvas": canvas}

_numbers = itertools.count(1)


def new_request_id() -> str:
    """A short id, unique in this process, for one JSON-RPC request."""
    return f"r{next(_numbers):x}"


def fields() -> dict[str, Any]:
    """The context of the current log line: every field that is set."""
    return {name: value for name, variable in FIELDS.items() if (value := variable.get()) is not None}
