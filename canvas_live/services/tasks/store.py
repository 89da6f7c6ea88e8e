"""Where task records live: a small interface, and the SQLite store behind it.

The interface is as small as a shared store (e.g. Redis) would need to implement; the manager keeps
live state in memory and writes through it at every state change. `create_task_store` picks the
store from a URL, like `create_hub`: `sqlite://` (the default file `<state_dir>/tasks.sqlite3`),
`sqlite:///absolute/path.sqlite3`, or `redis://…` (shared by several processes, `redis_store.py`).

The SQLite store does its blocking work in `asyncio.to_thread`, on one connection guarded by a
lock. Each row keeps the whole `TaskInfo` as JSON beside the columns that `list` filters on, and an
autoincrement `seq` that orders rows newest first and makes cursors stable. The file is created with
the first task, so a server that never runs one leaves nothing in the vault.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

from canvas_live.protocol.errors import invalid_params
from canvas_live.services.cluster import Cluster
from canvas_live.services.storage import disk_refusals
from canvas_live.services.tasks.models import TaskInfo, TaskPage, TaskQuery, TaskStatus
from canvas_live.services.tasks.redis_store import RedisTaskStore

UNFINISHED = (TaskStatus.PENDING.value, TaskStatus.RUNNING.value)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    canvas TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status);
CREATE INDEX IF NOT EXISTS tasks_finished ON tasks (finished_at);
"""

_encode = msgspec.json.Encoder().encode


_decode = msgspec.json.Decoder(TaskInfo).decode


class TaskStore(Protocol):
    """Persistence of task records."""

    async def open(self) -> None:
        """Get ready (create files, tables)."""

    async def unfinished(self) -> list[TaskInfo]:
        """Every record still pending or running (left so by a stop), oldest first."""

    async def save(self, tasks: Sequence[TaskInfo]) -> None:
        """Insert or replace these records, in order."""

    async def get(self, task_id: str) -> TaskInfo | None:
        """One record, or None."""

    async def list(self, query: TaskQuery) -> TaskPage:
        """Records matching `query`, newest first, with the cursor of the next page."""

    async def prune(self, finished_before: str, keep: int) -> int:
        """Delete finished records older than `finished_before`, then all but the newest `keep`; how many."""

    async def close(self) -> None:
        """Release the store."""


@runtime_checkable
class SharedTaskStore(TaskStore, Protocol):
    """A store several processes share: each runs its own tasks, and reaches the others' through it."""

    async def orphaned(self) -> list[TaskInfo]:
        """Unfinished tasks whose owner process is gone, for this process to settle."""

    async def owner(self, task_id: str) -> str | None:
        """The process running the task."""

    async def alive(self, owner: str) -> bool:
        """Whether that process is still there."""

    async def ask_cancel(self, owner: str, task_id: str) -> None:
        """Ask the owner to cancel the task."""

    async def next_cancel(self, wait: float) -> str | None:
        """A task another process asked this one to cancel, if one comes within `wait` seconds."""


class SqliteTaskStore:
    """Task records in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _refusals(self) -> AbstractContextManager[None]:
        return disk_refusals("the task store could not be used", self.path.parent)

    def _connection(self, create: bool = False) -> sqlite3.Connection | None:
        """The connection; None while the file does not exist and `create` is false."""
        if self._db is None and (create or self.path.exists()):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    async def open(self) -> None:
        """Open the file if a previous run left one (it is created by the first save otherwise)."""
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        with self._lock, self._refusals():
            self._connection()

    async def unfinished(self) -> list[TaskInfo]:
        """What a previous process left pending or running."""
        return await asyncio.to_thread(self._unfinished)

    def _unfinished(self) -> list[TaskInfo]:
        with self._lock, self._refusals():
            db = self._connection()
            if db is None:
                return []
            rows = db.execute("SELECT body FROM tasks WHERE status IN (?, ?) ORDER BY seq", UNFINISHED).fetchall()
        return [_decode(body) for (body,) in rows]

    async def save(self, tasks: Sequence[TaskInfo]) -> None:
        """Upsert the records in one transaction."""
        rows = list(tasks)
        await asyncio.to_thread(self._save, rows)

    def _save(self, tasks: list[TaskInfo]) -> None:
        with self._lock, self._refusals():
            db = self._connection(create=True)
            assert db is not None
            self._write(db, tasks)

    @staticmethod
    def _write(db: sqlite3.Connection, tasks: list[TaskInfo]) -> None:
        db.execute("BEGIN")
        try:
            db.executemany(
                "INSERT INTO tasks (id, kind, status, canvas, created_at, finished_at, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
                " finished_at = excluded.finished_at, body = excluded.body",
                [(t.id, t.kind, t.status.value, t.canvas, t.created_at, t.finished_at, _encode(t)) for t in tasks],
            )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def get(self, task_id: str) -> TaskInfo | None:
        """One record by id."""
        return await asyncio.to_thread(self._get, task_id)

    def _get(self, task_id: str) -> TaskInfo | None:
        with self._lock, self._refusals():
            db = self._connection()
            row = db.execute("SELECT body FROM tasks WHERE id = ?", (task_id,)).fetchone() if db else None
        return _decode(row[0]) if row else None

    async def list(self, query: TaskQuery) -> TaskPage:
        """Newest first; `before` is the id of the last task of the previous page."""
        return await asyncio.to_thread(self._list, query)

    def _list(self, query: TaskQuery) -> TaskPage:
        clauses: list[str] = []
        values: list[object] = []
        for column, value in (("status", query.status), ("kind", query.kind), ("canvas", query.canvas)):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value.value if isinstance(value, TaskStatus) else value)
        with self._lock, self._refusals():
            db = self._connection()
            if query.before is not None:
                cursor = db.execute("SELECT seq FROM tasks WHERE id = ?", (query.before,)).fetchone() if db else None
                if cursor is None:
                    raise invalid_params(f"unknown cursor {query.before!r}: start again without `before`", "before")
                clauses.append("seq < ?")
                values.append(cursor[0])
            if db is None:
                return TaskPage([])
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            rows = db.execute(
                f"SELECT body FROM tasks {where} ORDER BY seq DESC LIMIT ?", (*values, query.limit + 1)
            ).fetchall()
        tasks = [_decode(body) for (body,) in rows[: query.limit]]
        more = len(rows) > query.limit
        return TaskPage(tasks, tasks[-1].id if more and tasks else None)

    async def prune(self, finished_before: str, keep: int) -> int:
        """Apply the retention policy to finished records."""
        return await asyncio.to_thread(self._prune, finished_before, keep)

    def _prune(self, finished_before: str, keep: int) -> int:
        with self._lock, self._refusals():
            db = self._connection()
            if db is None:
                return 0
            old = db.execute(
                "DELETE FROM tasks WHERE finished_at IS NOT NULL AND finished_at < ?", (finished_before,)
            ).rowcount
            extra = db.execute(
                "DELETE FROM tasks WHERE finished_at IS NOT NULL AND seq NOT IN"
                " (SELECT seq FROM tasks WHERE finished_at IS NOT NULL ORDER BY seq DESC LIMIT ?)",
                (keep,),
            ).rowcount
        return old + extra

    async def close(self) -> None:
        """Close the connection."""
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def create_task_store(url: str, state_dir: Path, cluster: Cluster | None = None) -> TaskStore:
    """Pick the task store from a URL: `sqlite://` alone means `<state_dir>/tasks.sqlite3`; `redis://` the cluster's."""
    scheme, _, rest = url.partition("://")
    if scheme == "sqlite":
        return SqliteTaskStore(Path(rest) if rest else state_dir / "tasks.sqlite3")
    if scheme in ("redis", "rediss", "unix") and cluster is not None:
        return RedisTaskStore(cluster)
    raise ValueError(f"unsupported task store URL {url!r}: use sqlite:// or redis://HOST:PORT/DB")
