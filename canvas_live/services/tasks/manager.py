"""The BackgroundTaskManager: long work as tasks with a tracked, persisted, published status.

A task is a runner (an async function of a `TaskContext` and the params of its kind) of a
registered kind. Its state lives in memory while it is unfinished and is written through the task
store at every status change, in order, by one writer (`TaskWriter`), so a crash loses at most
progress, never a task. Status moves `pending -> running -> completed | failed | cancelled`;
`_finish` is the one place a task becomes terminal and refuses to change a terminal one, so a
runner that returns after being cancelled, or a cancel that races a completion, cannot flip a final
state.

Events go to `tasks` and `task:<id>`: `task.created`, `task.started`, `task.progress` (throttled
per task, the latest wins) and the final `task.completed` / `task.failed` / `task.cancelled`, which
is published with `publish` and so is never dropped and follows every progress event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import msgspec

from canvas_live.protocol import logcontext
from canvas_live.protocol.errors import ErrorCode, ErrorInfo, RpcError, not_found
from canvas_live.services.clock import utc_iso
from canvas_live.services.hub import Hub
from canvas_live.services.tasks.models import Progress, TaskInfo, TaskPage, TaskQuery, TaskStatus, interrupted
from canvas_live.services.tasks.store import SharedTaskStore, TaskStore
from canvas_live.services.tasks.writer import TaskWriter

log = logging.getLogger("canvas_live.tasks")

LAUNCH_DEADLINE = 5.0
"""Seconds after which a task created with `start=False` starts even if its creator never launched it."""

CANCEL_GRACE = 5.0
"""Seconds `cancel` waits for a runner to stop (subprocesses killed, requests aborted) before answering."""

REAP_EVERY = 5.0
"""Seconds between two looks for tasks of processes that died (their heartbeat expires within 10 s)."""

REMOTE_POLL = 0.05
"""Seconds between two reads of a task running on another process, while waiting for it to finish."""

PROGRESS_INTERVAL = 0.05
"""Seconds between two progress events of one task (about 20 per second, as the contract says)."""

T = TypeVar("T")

_FINAL_EVENT = {
    TaskStatus.COMPLETED: "task.completed",
    TaskStatus.FAILED: "task.failed",
    TaskStatus.CANCELLED: "task.cancelled",
}


class TaskContext:
    """What a runner is given: its task's id and params, and ways to report progress and results."""

    def __init__(self, manager: BackgroundTaskManager, active: _Active) -> None:
        self._manager = manager
        self._active = active

    @property
    def task_id(self) -> str:
        """The task's id."""
        return self._active.info.id

    def progress(self, done: int, total: int, message: str | None = None) -> None:
        """Report progress; events are throttled, the latest wins. Ignored once the task is finished."""
        self._manager._progress(self._active, Progress(done, total, message))

    def publish(self, event: str, fields: Mapping[str, Any]) -> None:
        """Publish an event (e.g. `agent.result`) on `task:<id>`; dropped once the task is finished."""
        if not self._active.info.status.terminal:
            self._manager.hub.publish(f"task:{self.task_id}", event, {"task_id": self.task_id, **fields})

    async def final(self, step: Awaitable[T], planned: Any = None) -> T:
        """Take the task's last step, the one a learner sees (writing a canvas): its outcome is the task's.

        The step and the completion are one: a cancel that arrives during it waits for it and finds
        the task completed; a time limit or a shutdown that cuts in still records it completed, since
        the step is taken to its end. With `planned` (the result the step will complete with), that
        result is recorded first, while the task still runs, so that after a crash during the step
        the kind's `recover` can tell from the disk whether it landed. A step that fails (a name
        taken meanwhile) leaves the task running, to try again or fail.
        """
        active = self._active
        active.committing = True
        try:
            if planned is not None:
                await self._manager._writer.save(msgspec.structs.replace(active.info, result=planned))
            outcome = await step
        finally:
            active.committing = False
        active.committed = (outcome,)
        return outcome


P = TypeVar("P", bound=msgspec.Struct)

Runner = Callable[[TaskContext, P], Awaitable[Any]]
Recover = Callable[[TaskInfo], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class TaskKind(Generic[P]):
    """A kind of task: its params type, its runner and, optionally, its own time limit and a way to recover it.

    The params type is the one description of the kind's input: the JSON-RPC method and the HTTP
    route decode requests into it, the task record stores it (as `TaskInfo.params`), and the
    runner receives that very instance, validated once, before the task existed.

    `recover(info)` is asked, at start-up, about a task of this kind that a crash cut off during
    its `TaskContext.final` step (its record holds the result it was completing with): whether the
    step is on disk. If so the task is recorded completed, else failed (INTERRUPTED).
    """

    name: str
    params: type[P]
    runner: Runner[P]
    timeout: float | None = None
    recover: Recover | None = None


@dataclass(frozen=True, slots=True)
class TaskManagerConfig:
    """Time limits, retention and shutdown behaviour."""

    default_timeout: float = 3600.0
    timeouts: Mapping[str, float] = field(default_factory=dict)
    retention_s: float = 7 * 24 * 3600.0
    max_kept: int = 10_000
    prune_interval: float = 3600.0
    shutdown_grace: float = 10.0


@dataclass(eq=False, slots=True)
class _Active:
    """An unfinished task, or a finished one whose final record is not written yet (`done` is then unset)."""

    info: TaskInfo
    kind: TaskKind[Any]
    params: msgspec.Struct
    done: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None
    progress_sent: float = 0.0
    progress_timer: asyncio.TimerHandle | None = None
    committing: bool = False
    committed: tuple[Any] | None = None
    """The result, once the final step landed: from then on the task can only complete."""


class BackgroundTaskManager:
    """Creates, runs, tracks, cancels and persists background tasks."""

    def __init__(self, store: TaskStore, hub: Hub, config: TaskManagerConfig) -> None:
        self.store = store
        self.hub = hub
        self.config = config
        self.kinds: dict[str, TaskKind[Any]] = {}
        self._active: dict[str, _Active] = {}
        self._writer = TaskWriter(store, on_final=self._forget)
        self._pruner: asyncio.Task[None] | None = None
        self._closing = False
        self._finished: Counter[tuple[str, str]] = Counter()
        self._peers: list[asyncio.Task[None]] = []
        self.problem: ErrorInfo | None = None
        """Why the store could not be brought up to date at start-up (a full or read-only disk), if so."""

    def register(self, kind: TaskKind[Any]) -> None:
        """Make a kind of task available to `create_task`."""
        if kind.name in self.kinds:
            raise ValueError(f"task kind {kind.name!r} registered twice")
        self.kinds[kind.name] = kind

    async def start(self) -> int:
        """Open the store and settle what a previous process left unfinished; how many were.

        A store the disk refuses (full, read-only) does not stop the server: the problem is kept in
        `problem` for the health probe, task methods answer STORAGE while the disk refuses, and the
        settling is tried again with the next task created.
        """
        self._writer.start()
        self._pruner = asyncio.create_task(self._prune_periodically(), name="task pruner")
        if isinstance(self.store, SharedTaskStore):
            self._peers = [
                asyncio.create_task(self._reap_forever(self.store), name="task reaper"),
                asyncio.create_task(self._serve_cancels(self.store), name="task cancels"),
            ]
        try:
            await self.store.open()
            count = await self._settle_unfinished()
            await self.prune()
        except RpcError as exc:
            if exc.code is not ErrorCode.STORAGE:
                raise
            self.problem = exc.to_info()
            log.warning("the task store is not writable (%s): tasks cannot be recorded until it is", exc.message)
            return 0
        return count

    async def _settle_unfinished(self) -> int:
        """Record the tasks a previous process left unfinished: completed if their final step landed, else failed."""
        left = await self.store.unfinished()
        recovered = await self._settle(left, interrupted("the server stopped before the task finished"))
        if left:
            log.warning(
                "%d task(s) left unfinished by the previous run: %d had finished their work and are recorded "
                "completed, the others failed (INTERRUPTED)",
                len(left),
                recovered,
            )
        self.problem = None
        return len(left)

    async def _settle(self, left: list[TaskInfo], error: ErrorInfo) -> int:
        """Make tasks no process runs any more terminal, save them and announce them; how many completed."""
        now = utc_iso()
        recovered = 0
        for info in left:
            kind = self.kinds.get(info.kind)
            landed = False
            if info.result is not None and kind is not None and kind.recover is not None:
                try:
                    landed = await kind.recover(info)
                except Exception:
                    log.exception("checking whether task %s (%s) finished failed", info.id, info.kind)
            info.finished_at = now
            if landed:
                info.status, recovered = TaskStatus.COMPLETED, recovered + 1
            else:
                info.status, info.result, info.error = TaskStatus.FAILED, None, error
        if left:
            await self.store.save(left)
        for info in left:
            fields: dict[str, Any] = {"finished_at": info.finished_at, "progress": info.progress}
            if info.result is not None:
                fields["result"] = info.result
            if info.error is not None:
                fields["error"] = info.error
            self._publish(info, _FINAL_EVENT[info.status], fields)
        return recovered

    async def _reap_forever(self, store: SharedTaskStore) -> None:
        """Settle the tasks of processes that died: a survivor records them as a restart would."""
        while True:
            await asyncio.sleep(REAP_EVERY)
            try:
                orphans = await store.orphaned()
                if orphans:
                    await self._settle(orphans, interrupted("the process running the task stopped"))
                    log.warning("%d task(s) of a process that stopped were recorded as interrupted", len(orphans))
            except RpcError as exc:
                log.debug("looking for tasks of stopped processes failed: %s", exc.message)
            except Exception:
                log.exception("settling the tasks of a stopped process failed")

    async def _serve_cancels(self, store: SharedTaskStore) -> None:
        """Cancel the tasks of this process that another process was asked to cancel."""
        while True:
            try:
                task_id = await store.next_cancel(1.0)
            except Exception as exc:  # Redis away: try again shortly
                log.debug("reading cancel requests failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            if task_id is not None and task_id in self._active:
                try:
                    await self.cancel(task_id)
                except RpcError:
                    pass  # it finished meanwhile: the asker reads that from the record
                except Exception:
                    log.exception("cancelling task %s for another process failed", task_id)

    async def prune(self) -> int:
        """Apply the retention policy (age, then count) to finished tasks."""
        removed = await self.store.prune(utc_iso(-self.config.retention_s), self.config.max_kept)
        if removed:
            log.info("pruned %d finished task(s)", removed)
        return removed

    async def _prune_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.prune_interval)
            try:
                await self.prune()
            except Exception:
                log.exception("pruning finished tasks failed")

    # -- the life of a task -------------------------------------------------------------------

    async def create_task(
        self, kind: str, params: msgspec.Struct, canvas: str | None = None, *, start: bool = True
    ) -> TaskInfo:
        """Record a new pending task, durably, then start it; returns its first state.

        With `start=False` the caller starts it with `launch` (an HTTP route does so once its 202
        has gone out); should that never happen, the task starts by itself after `LAUNCH_DEADLINE`
        seconds, so no task is left pending for ever.
        """
        if self._closing:
            raise RpcError(ErrorCode.UNAVAILABLE, "the server is shutting down: no new tasks are accepted")
        if self.problem is not None:
            await self._settle_unfinished()  # the disk may have room again; if not, STORAGE is the answer
        task_kind = self.kinds[kind]
        if not isinstance(params, task_kind.params):
            raise TypeError(f"{kind} takes {task_kind.params.__name__}, not {type(params).__name__}")
        stored = msgspec.to_builtins(params)
        info = TaskInfo(secrets.token_hex(8), kind, TaskStatus.PENDING, Progress(0, 0), stored, utc_iso(), canvas)
        active = _Active(info, task_kind, params)
        self._active[info.id] = active
        try:
            await self._writer.save(info)
        except asyncio.CancelledError:
            # The caller went away while the record was being written. It is queued and will land,
            # so the task runs as asked instead of sitting pending with nobody to start it.
            self._announce(info, start=True)
            raise
        except Exception:
            del self._active[info.id]
            self._writer.discard(info.id)
            raise
        self._announce(info, start=start)
        log.info("task %s (%s) created", info.id, info.kind)
        return _snapshot(info)

    def _announce(self, info: TaskInfo, *, start: bool) -> None:
        """Publish a recorded task's creation and start it now, or by `LAUNCH_DEADLINE` at the latest."""
        created: dict[str, Any] = {"params": info.params, "created_at": info.created_at, "progress": info.progress}
        if info.canvas is not None:
            created["canvas"] = info.canvas
        self._publish(info, "task.created", created)
        if start:
            self.launch(info.id)
        else:
            asyncio.get_running_loop().call_later(LAUNCH_DEADLINE, self.launch, info.id)

    def launch(self, task_id: str) -> None:
        """Start a task created with `start=False`; starting one twice, or a finished one, does nothing."""
        active = self._active.get(task_id)
        if active is not None and active.runner is None and not self._closing:
            active.runner = asyncio.create_task(self._drive(active), name=f"task {task_id}")

    async def _drive(self, active: _Active) -> None:
        info = active.info
        if info.status.terminal:  # cancelled before it could start
            return
        info.status, info.started_at = TaskStatus.RUNNING, utc_iso()
        logcontext.task_id.set(info.id)  # this runner's own context: its log lines name the task
        if info.canvas is not None:
            logcontext.canvas.set(info.canvas)
        self._writer.put(info)
        self._publish(info, "task.started", {"started_at": info.started_at})
        limit = self.config.timeouts.get(info.kind, active.kind.timeout or self.config.default_timeout)
        try:
            async with asyncio.timeout(limit):
                result = await active.kind.runner(TaskContext(self, active), active.params)
        except (asyncio.CancelledError, TimeoutError) as exc:
            if active.committed is not None:  # the final step landed before the stop: that is the outcome
                self._finish(active, TaskStatus.COMPLETED, result=active.committed[0])
            elif isinstance(exc, TimeoutError):
                message = f"the task exceeded its time limit of {limit:g} s"
                self._finish(active, TaskStatus.FAILED, error=ErrorInfo(int(ErrorCode.TIMEOUT), "TIMEOUT", message))
            else:  # `cancel` and `close` record the final state before they cancel the runner
                self._finish(active, TaskStatus.FAILED, error=interrupted("the task was stopped"))
        except RpcError as exc:
            self._finish(active, TaskStatus.FAILED, error=exc.to_info())
        except Exception:
            log.exception("task %s (%s) failed", info.id, info.kind)
            error = ErrorInfo(int(ErrorCode.INTERNAL_ERROR), "INTERNAL_ERROR", "the task failed with an internal error")
            self._finish(active, TaskStatus.FAILED, error=error)
        else:
            self._finish(active, TaskStatus.COMPLETED, result=result)

    def _progress(self, active: _Active, progress: Progress) -> None:
        """Record progress; send it at most every `PROGRESS_INTERVAL` per task, the latest winning.

        This is the one place progress is throttled: each task has its own timer, so one busy task
        never hides another's latest progress on `tasks`, and the final event cancels the timer
        and carries the final progress itself.
        """
        if active.info.status.terminal:
            return
        active.info.progress = progress
        if active.progress_timer is not None:
            return  # a send is scheduled and will carry this latest progress
        loop = asyncio.get_running_loop()
        wait = active.progress_sent + PROGRESS_INTERVAL - loop.time()
        if wait <= 0:
            self._send_progress(active)
        else:
            active.progress_timer = loop.call_later(wait, self._send_progress, active)

    def _send_progress(self, active: _Active) -> None:
        active.progress_timer = None
        info = active.info
        if info.status.terminal:
            return
        active.progress_sent = asyncio.get_running_loop().time()
        fields = {
            "task_id": info.id,
            "kind": info.kind,
            "status": info.status.value,
            **msgspec.to_builtins(info.progress),
        }
        self.hub.publish("tasks", "task.progress", fields)
        self.hub.publish(f"task:{info.id}", "task.progress", fields)
        if isinstance(self.store, SharedTaskStore):
            self._writer.put(info)  # other processes read the task from the store: keep its progress there

    def _finish(
        self, active: _Active, status: TaskStatus, *, result: Any = None, error: ErrorInfo | None = None
    ) -> bool:
        """Make the task terminal, unless it already is; queue its record and publish its final event."""
        info = active.info
        if info.status.terminal:
            return False
        info.status, info.finished_at, info.result, info.error = status, utc_iso(), result, error
        self._finished[info.kind, status.value] += 1
        if active.progress_timer is not None:
            active.progress_timer.cancel()  # the final event carries the final progress
        self._writer.put(info)
        log.info("task %s (%s) %s", info.id, info.kind, status.value)
        fields: dict[str, Any] = {"finished_at": info.finished_at, "progress": info.progress}
        if result is not None:
            fields["result"] = result
        if error is not None:
            fields["error"] = error
        self._publish(info, _FINAL_EVENT[status], fields)
        return True

    def _forget(self, task_id: str) -> None:
        """Called once a task's final record is written: waiters wake, and the store answers from now on."""
        active = self._active.pop(task_id, None)
        if active is not None:
            active.done.set()

    def _publish(self, info: TaskInfo, event: str, fields: Mapping[str, Any]) -> None:
        payload = {"task_id": info.id, "kind": info.kind, "status": info.status.value, **fields}
        self.hub.publish("tasks", event, payload)
        self.hub.publish(f"task:{info.id}", event, payload)

    # -- what clients ask -----------------------------------------------------------------------

    async def get(self, task_id: str) -> TaskInfo:
        """The task's current state, or `NOT_FOUND` (`data.kind = "task"`)."""
        active = self._active.get(task_id)
        if active is not None:
            return _snapshot(active.info)
        info = await self.store.get(task_id)
        if info is None:
            raise not_found("task", task_id)
        return info

    async def list(self, query: TaskQuery) -> TaskPage:
        """Tasks matching `query`, newest first; live ones show their latest progress."""
        page = await self.store.list(query)
        page.tasks = [_snapshot(self._active[task.id].info) if task.id in self._active else task for task in page.tasks]
        return page

    async def cancel(self, task_id: str) -> TaskInfo:
        """Cancel an unfinished task and wait (briefly) for its work to stop; a finished one is `CONFLICT`.

        A task taking its final step (see `TaskContext.final`) is not stopped halfway: the cancel
        waits for the step, and the task is then finished, so the answer is `CONFLICT` too.
        """
        active = self._active.get(task_id)
        if active is None and isinstance(self.store, SharedTaskStore):
            return await self._cancel_elsewhere(self.store, task_id)
        if active is not None and (active.committing or active.committed) and active.runner is not None:
            await asyncio.wait({active.runner})
        if active is None or active.info.status.terminal:
            info = await self.get(task_id)
            raise RpcError(
                ErrorCode.CONFLICT,
                f"task {task_id} is already {info.status.value}: only a pending or running task can be cancelled",
                status=info.status.value,
                id=task_id,
            )
        self._finish(active, TaskStatus.CANCELLED)
        await self._stop(active)
        return _snapshot(active.info)

    async def _cancel_elsewhere(self, store: SharedTaskStore, task_id: str) -> TaskInfo:
        """Cancel a task another process runs: ask its owner, and wait for the record to say how it ended.

        An owner that is gone cannot answer: its task is recorded cancelled here.
        """
        info = await self.get(task_id)
        owner = await store.owner(task_id)
        was_terminal = info.status.terminal
        if not was_terminal and owner is not None:
            if await store.alive(owner):
                await store.ask_cancel(owner, task_id)
                info = await self._wait_elsewhere(task_id, CANCEL_GRACE + 2 * REAP_EVERY)
            else:
                info.status, info.finished_at = TaskStatus.CANCELLED, utc_iso()
                await store.save([info])
                info = await self.get(task_id)
                if info.status is TaskStatus.CANCELLED:
                    self._publish(info, "task.cancelled", {"finished_at": info.finished_at, "progress": info.progress})
        if info.status is TaskStatus.CANCELLED and not was_terminal:
            return info
        raise RpcError(
            ErrorCode.CONFLICT,
            f"task {task_id} is already {info.status.value}: only a pending or running task can be cancelled",
            status=info.status.value,
            id=task_id,
        )

    async def _wait_elsewhere(self, task_id: str, timeout: float | None) -> TaskInfo:
        """Read a task of another process until its record is terminal or `timeout` passes."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            info = await self.get(task_id)
            if info.status.terminal or (deadline is not None and loop.time() >= deadline):
                return info
            await asyncio.sleep(REMOTE_POLL)

    async def _stop(self, active: _Active) -> None:
        runner = active.runner
        if runner is not None and not runner.done():
            runner.cancel()
            await asyncio.wait({runner}, timeout=CANCEL_GRACE)

    async def wait(self, task_id: str, timeout: float | None) -> TaskInfo:
        """The task once it is finished and recorded, or as it stands when `timeout` passes (None: no limit)."""
        active = self._active.get(task_id)
        if active is None:
            if isinstance(self.store, SharedTaskStore):
                return await self._wait_elsewhere(task_id, timeout)
            return await self.get(task_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(active.done.wait(), timeout)
        return _snapshot(active.info)

    def tally(self) -> dict[tuple[str, str], int]:
        """Tasks of this process by kind and status: those that ended, and those under way now."""
        tally = Counter(self._finished)
        for active in self._active.values():
            if not active.info.status.terminal:
                tally[active.info.kind, active.info.status.value] += 1
        return dict(tally)

    def counts(self) -> dict[str, int]:
        """Unfinished tasks by status, from memory (for the health probe)."""
        counts = {"running": 0, "pending": 0}
        for active in self._active.values():
            if not active.info.status.terminal:
                counts[active.info.status.value] += 1
        return counts

    async def close(self) -> None:
        """Refuse new tasks, give running ones `shutdown_grace` seconds, then fail them as INTERRUPTED."""
        self._closing = True
        if self._pruner is not None:
            self._pruner.cancel()
        for peer in self._peers:
            peer.cancel()
        await asyncio.gather(*self._peers, return_exceptions=True)
        runners = {a.runner for a in self._active.values() if a.runner is not None and not a.runner.done()}
        if runners:
            await asyncio.wait(runners, timeout=self.config.shutdown_grace)
        finishing = {a.runner for a in self._active.values() if a.committing and a.runner is not None}
        if finishing:
            await asyncio.wait(finishing)  # a final step past the grace still lands and is recorded
        error = interrupted("the server shut down before the task finished")
        stopping = [
            active for active in list(self._active.values()) if self._finish(active, TaskStatus.FAILED, error=error)
        ]
        # All at once: each may take `CANCEL_GRACE` to stop its subprocesses and requests.
        await asyncio.gather(*(self._stop(active) for active in stopping))
        await self._writer.close()
        await self.store.close()


def _snapshot(info: TaskInfo) -> TaskInfo:
    """A copy that later updates do not change (nested values are replaced, never mutated)."""
    return msgspec.structs.replace(info)
