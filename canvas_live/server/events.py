"""The notifications the server pushes (docs/protocol.md, "Subscriptions and events"), as types.

The services publish their events as plain mappings (the hub encodes each once for every
subscriber); these Structs describe the params of each, with the `topic` and `seq` the hub adds,
for `rpc.discover`'s `x-events`. They reuse the services' own types where the payload is one
(`AgentResult`, `Progress`, `ErrorInfo`), and forbid unknown fields, so that the suite, which
checks every event it receives against its schema, fails when a payload and its description part.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from canvas_live.protocol.errors import ErrorInfo
from canvas_live.protocol.openrpc import Event
from canvas_live.services.agents import AgentResult
from canvas_live.services.agents.breaker import CircuitState
from canvas_live.services.tasks import TaskStatus
from canvas_live.services.tasks.models import Progress

Topic = Annotated[str, msgspec.Meta(description="The topic the event was published on.")]
Seq = Annotated[int, msgspec.Meta(ge=1, description="The event's place on its topic, from 1 in each epoch.")]
Source = Annotated[
    Literal["server", "external"],
    msgspec.Meta(description="`server` for an edit made through this server, `external` for one made elsewhere."),
]


class Hello(msgspec.Struct, forbid_unknown_fields=True):
    """`server.hello`: who answers, and the epoch that a resume's `since` seqs belong to."""

    name: str
    version: str
    epoch: Annotated[str, msgspec.Meta(description="Changes when the server restarts: pass it to `subscribe`.")]


class TopicEvent(msgspec.Struct, forbid_unknown_fields=True):
    """What the hub adds to every event published on a topic."""

    topic: Topic
    seq: Seq


class TaskEvent(TopicEvent):
    """The fields of every task event."""

    task_id: str
    kind: str
    status: TaskStatus


class TaskCreated(TaskEvent):
    """A task was recorded, pending."""

    params: dict[str, Any]
    created_at: str
    progress: Progress
    canvas: str | None = None


class TaskStarted(TaskEvent):
    """A task began to run."""

    started_at: str


class TaskProgressed(TaskEvent):
    """How far a running task has come (at most one every 50 ms per task and topic, the latest winning)."""

    done: int
    total: int
    message: str | None = None


class TaskFinished(TaskEvent):
    """A task ended; its final progress comes with it."""

    finished_at: str
    progress: Progress


class TaskCompleted(TaskFinished):
    """A task completed; `result` is what `task.get` will show."""

    result: Any = None


class TaskFailed(TaskFinished):
    """A task failed, and why."""

    error: ErrorInfo


class AgentResultEvent(AgentResult, kw_only=True, forbid_unknown_fields=True):
    """One agent call of a task ended: its `AgentResult`, with the task's id."""

    topic: Topic
    seq: Seq
    task_id: str


class AgentProgress(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A running agent call's answer so far, counted in tokens (from a backend that streams)."""

    topic: Topic
    seq: Seq
    task_id: str
    agent: str
    tokens: int
    node_id: str | None = None
    """The node the call is about, in the learning workflows."""
    key: str | None = None
    """The call's `key`, in `agent.batch`."""


class CanvasOp(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One change of a server edit: the node or edge as written, or the id of the one removed."""

    op: Literal["node.added", "node.updated", "node.deleted", "edge.added", "edge.deleted"]
    node: dict[str, Any] | None = None
    edge: dict[str, Any] | None = None
    id: str | None = None


class CanvasChanged(TopicEvent):
    """A canvas was written; for an external edit `ops` is empty: read it again."""

    name: str
    version: str
    source: Source
    ops: list[CanvasOp]


class CanvasCreated(TopicEvent):
    """A canvas appeared in the vault."""

    name: str
    version: str
    source: Source


class CanvasDeleted(TopicEvent):
    """A canvas left the vault (always an external change: the server deletes no canvas)."""

    name: str
    source: Source


class CircuitChanged(TopicEvent):
    """The agent backend's circuit breaker changed state; `retry_at` is when an open one lets a call through."""

    backend: str
    state: CircuitState
    retry_at: str | None = None


TASK_TOPICS = ("tasks", "task:<id>")

EVENTS = (
    Event("server.hello", (), Hello, "Sent to every new connection first, before any answer or event."),
    Event("task.created", TASK_TOPICS, TaskCreated, "A task was scheduled."),
    Event("task.started", TASK_TOPICS, TaskStarted, "A task started to run."),
    Event("task.progress", TASK_TOPICS, TaskProgressed, "A running task's progress (throttled, the latest wins)."),
    Event("task.completed", TASK_TOPICS, TaskCompleted, "A task completed, with its result."),
    Event("task.failed", TASK_TOPICS, TaskFailed, "A task failed, with its error."),
    Event("task.cancelled", TASK_TOPICS, TaskFinished, "A task was cancelled."),
    Event("agent.result", ("task:<id>",), AgentResultEvent, "One agent call a task made ended."),
    Event(
        "agent.progress",
        ("task:<id>",),
        AgentProgress,
        "A running agent call's token count, at most 4 times a second per call, from a streaming backend.",
    ),
    Event(
        "canvas.changed", ("canvas:<name>",), CanvasChanged, "A canvas was edited, here (with its ops) or elsewhere."
    ),
    Event("canvas.created", ("canvases",), CanvasCreated, "A canvas was created, here or elsewhere."),
    Event("canvas.deleted", ("canvases",), CanvasDeleted, "A canvas was deleted (outside the server)."),
    Event("agent.circuit", ("agents",), CircuitChanged, "The agent backend's circuit breaker changed state."),
)
"""Every notification the server sends, for `rpc.discover`."""
