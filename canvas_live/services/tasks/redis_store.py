"""Task records in Redis, shared by every process of a deployment (docs/scale-out.md).

Each task is a hash `cl:task:<id>` (its record, status, owner and creation number), listed in
the sorted set `cl:tasks` by creation, and, while unfinished, in its owner's set `cl:live:<owner>`.
The owner is the process that created it, the only one that runs it. A script saves a record so
that a terminal status never changes, whichever process writes last (the owner's late progress
cannot undo a survivor marking its task interrupted). Other processes ask the owner to cancel a
task through its list `cl:cancel:<owner>`, and take over the unfinished tasks of an owner whose
heartbeat expired (`orphaned`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import msgspec

from canvas_live.protocol.errors import invalid_params
from canvas_live.services.cluster import Cluster
from canvas_live.services.cluster.connection import HEARTBEAT_TTL, INSTANCES, text
from canvas_live.services.tasks.models import TaskInfo, TaskPage, TaskQuery, TaskStatus

_SAVE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'completed' or status == 'failed' or status == 'cancelled' then return 0 end
if redis.call('HSETNX', KEYS[1], 'owner', ARGV[3]) == 1 then
  local n = redis.call('INCR', KEYS[3])
  redis.call('HSET', KEYS[1], 'n', n)
  redis.call('ZADD', KEYS[2], n, ARGV[1])
end
redis.call('HSET', KEYS[1], 'body', ARGV[2], 'status', ARGV[4])
local live = 'cl:live:' .. redis.call('HGET', KEYS[1], 'owner')
if ARGV[5] == '1' then redis.call('SADD', live, ARGV[1]) else redis.call('SREM', live, ARGV[1]) end
return 1
"""
"""KEYS: task, index, counter. ARGV: id, body, owner, status, unfinished (1 or 0)."""

INDEX = b"cl:tasks"
COUNTER = b"cl:tasks:n"
CHUNK = 200

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(TaskInfo).decode


def _task(task_id: str) -> bytes:
    return f"cl:task:{task_id}".encode()


def _live(instance: str) -> bytes:
    return f"cl:live:{instance}".encode()


def _cancels(instance: str) -> bytes:
    return f"cl:cancel:{instance}".encode()


class RedisTaskStore:
    """The task store of a deployment on Redis; every process reads and lists every task."""

    shared = True

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.instance = cluster.instance
        self._save = cluster.client.register_script(_SAVE)

    async def open(self) -> None:
        """Nothing to create: Redis is reached at start-up by the cluster."""

    async def unfinished(self) -> list[TaskInfo]:
        """What this very process (by its instance name) left unfinished when it last stopped."""
        with self.cluster.needed("the task store could not be read"):
            ids = await self.cluster.client.smembers(_live(self.instance))
            return await self._bodies(sorted(map(text, ids)))

    async def orphaned(self) -> list[TaskInfo]:
        """The unfinished tasks of processes whose heartbeat expired, each process's claimed by one survivor."""
        client = self.cluster.client
        found: list[TaskInfo] = []
        with self.cluster.needed("the task store could not be read"):
            for raw in await client.smembers(INSTANCES):
                owner = text(raw)
                if owner == self.instance or await self.cluster.alive(owner):
                    continue
                if not await self.cluster.once(f"cl:reap:{owner}", HEARTBEAT_TTL):
                    continue  # another survivor takes these
                ids = await client.smembers(_live(owner))
                if not ids:
                    await client.srem(INSTANCES, owner)
                    continue
                found.extend(await self._bodies(sorted(map(text, ids))))
        return found

    async def _bodies(self, ids: Sequence[bytes | str]) -> list[TaskInfo]:
        if not ids:
            return []
        pipe = self.cluster.client.pipeline(transaction=False)
        for task_id in ids:
            pipe.hget(_task(text(task_id)), "body")
        return [_decode(body) for body in await pipe.execute() if body is not None]

    async def save(self, tasks: Sequence[TaskInfo]) -> None:
        """Write the records in one round trip; a record already terminal in Redis is left as it is."""
        with self.cluster.needed("the task record could not be written"):
            pipe = self.cluster.client.pipeline(transaction=False)
            for info in tasks:
                args = (info.id, _encode(info), self.instance, info.status.value, "0" if info.status.terminal else "1")
                await self._save(keys=(_task(info.id), INDEX, COUNTER), args=args, client=pipe)
            await pipe.execute()

    async def get(self, task_id: str) -> TaskInfo | None:
        """One record by id."""
        with self.cluster.needed("the task store could not be read"):
            body = await self.cluster.client.hget(_task(task_id), "body")
        return _decode(body) if body is not None else None

    async def owner(self, task_id: str) -> str | None:
        """The process that runs the task."""
        with self.cluster.needed("the task store could not be read"):
            owner = await self.cluster.client.hget(_task(task_id), "owner")
        return text(owner) if owner is not None else None

    async def list(self, query: TaskQuery) -> TaskPage:
        """Newest first, filtered here: a deployment keeps at most `task_retention_max` finished tasks."""
        client = self.cluster.client
        with self.cluster.needed("the task store could not be read"):
            top: float | str = "+inf"
            if query.before is not None:
                score = await client.zscore(INDEX, query.before)
                if score is None:
                    raise invalid_params(f"unknown cursor {query.before!r}: start again without `before`", "before")
                top = f"({score}"
            found: list[TaskInfo] = []
            offset = 0
            while len(found) <= query.limit:
                ids = cast("list[bytes]", await client.zrevrangebyscore(INDEX, top, "-inf", start=offset, num=CHUNK))
                if not ids:
                    break
                offset += len(ids)
                found.extend(info for info in await self._bodies(ids) if _matches(info, query))
        tasks = found[: query.limit]
        more = len(found) > query.limit
        return TaskPage(tasks, tasks[-1].id if more and tasks else None)

    async def prune(self, finished_before: str, keep: int) -> int:
        """Delete finished records older than `finished_before`, then all but the newest `keep` finished ones."""
        client = self.cluster.client
        with self.cluster.needed("the task store could not be pruned"):
            everything = cast("list[bytes]", await client.zrevrange(INDEX, 0, -1))
            doomed: list[str] = []
            kept = 0
            for start in range(0, len(everything), CHUNK):
                for info in await self._bodies(everything[start : start + CHUNK]):
                    if info.finished_at is None:
                        continue
                    if info.finished_at < finished_before or kept >= keep:
                        doomed.append(info.id)
                    else:
                        kept += 1
            for start in range(0, len(doomed), CHUNK):
                chunk = doomed[start : start + CHUNK]
                pipe = client.pipeline(transaction=False)
                pipe.delete(*(_task(task_id) for task_id in chunk))
                pipe.zrem(INDEX, *chunk)
                await pipe.execute()
        return len(doomed)

    async def ask_cancel(self, owner: str, task_id: str) -> None:
        """Ask the task's owner to cancel it (the owner answers by finishing the record)."""
        with self.cluster.needed("the cancel could not be sent"):
            pipe = self.cluster.client.pipeline(transaction=False)
            pipe.rpush(_cancels(owner), task_id)
            pipe.expire(_cancels(owner), int(HEARTBEAT_TTL * 3))
            await pipe.execute()

    async def next_cancel(self, wait: float) -> str | None:
        """The id of a task another process asked this one to cancel, waiting up to `wait` seconds."""
        answer = await self.cluster.client.blpop([_cancels(self.instance)], timeout=wait)
        return text(answer[1]) if answer else None

    async def alive(self, owner: str) -> bool:
        """Whether the owner process still beats."""
        with self.cluster.needed("the task store could not be read"):
            return await self.cluster.alive(owner)

    async def close(self) -> None:
        """The cluster's client is closed by its owner."""


def _matches(info: TaskInfo, query: TaskQuery) -> bool:
    return (
        (query.status is None or info.status is TaskStatus(query.status))
        and (query.kind is None or info.kind == query.kind)
        and (query.canvas is None or info.canvas == query.canvas)
    )
