"""The memory broker: seq, history and epoch of a single process, the default engine.

Publishing is synchronous: the event is encoded once, remembered, and handed straight back to the
hub, so a publish costs what a loop over the subscribers costs. Each topic keeps its last
`history_size` frames within a byte budget; all topics together stay within `total_bytes`, the
least recently published ones that nobody listens to going first.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any

from canvas_live.protocol.events import encode_event
from canvas_live.services.hub.broker import Deliver, Held, Resync

EVICTED_KEPT = 100_000
"""Evicted topics whose seq is remembered (a resume of an older one may be told `recovered: true` in error)."""


class _Topic:
    """One topic's seq counter and recent frames."""

    __slots__ = ("history", "history_bytes", "seq")

    def __init__(self, seq: int = 0) -> None:
        self.seq = seq
        self.history: deque[tuple[int, str]] = deque()
        self.history_bytes = 0

    def remember(self, seq: int, frame: str, max_events: int, max_bytes: int) -> None:
        """Keep a frame for resume, dropping the oldest beyond the count or the size budget."""
        history = self.history
        history.append((seq, frame))
        self.history_bytes += len(frame)
        while len(history) > max_events or (self.history_bytes > max_bytes and len(history) > 1):
            self.history_bytes -= len(history.popleft()[1])


class MemoryBroker:
    """Everything the hub shares, kept in this process."""

    engine = "memory"

    def __init__(
        self,
        history_size: int = 1000,
        max_topics: int = 10_000,
        epoch: str | None = None,
        history_bytes: int = 16 << 20,
        total_bytes: int = 256 << 20,
    ) -> None:
        self.epoch = epoch or secrets.token_hex(4)
        self.history_size = history_size
        self.history_bytes = history_bytes
        self.total_bytes = total_bytes
        self.max_topics = max_topics
        # Topics in least-recently-published order, so the idle ones are evicted first.
        self._topics: OrderedDict[str, _Topic] = OrderedDict()
        self._deliver: Deliver = _nowhere
        self._held: Held = _never
        self.published = 0
        self._bytes = 0
        """History and topic names held, in characters: bounded by `total_bytes` over all topics."""
        # The last seq of each evicted topic, by a hash of its name (16 bytes a topic, against its
        # history's kilobytes), the oldest forgotten beyond `EVICTED_KEPT`.
        self._evicted: OrderedDict[bytes, int] = OrderedDict()

    def bind(self, deliver: Deliver, held: Held, resync: Resync) -> None:
        """Events go straight to `deliver`; nothing is ever missed, so `resync` is never called."""
        self._deliver = deliver
        self._held = held

    def publish(self, topic: str, event: str, fields: Mapping[str, Any]) -> int:
        """Encode once, remember, deliver; returns the event's seq."""
        state = self._topics.get(topic)
        if state is None:
            state = self._create(topic)
        else:
            self._topics.move_to_end(topic)
        state.seq += 1
        frame = encode_event(event, topic, state.seq, fields)
        self._bytes -= state.history_bytes
        state.remember(state.seq, frame, self.history_size, self.history_bytes)
        self._bytes += state.history_bytes
        self.published += 1
        if self._bytes > self.total_bytes:
            self._evict()
        self._deliver(topic, state.seq, frame)
        return state.seq

    def _create(self, name: str) -> _Topic:
        self._evict(extra=1)
        # A topic evicted earlier goes on counting: a client resuming it must not mistake the new
        # seq 1, 2, … for the events it saw before, so it is told `recovered: false`.
        topic = self._topics[name] = _Topic(self._evicted.pop(_key(name), 0))
        self._bytes += len(name)
        return topic

    def _evict(self, extra: int = 0) -> None:
        """Bound memory: drop the least recently published topics nobody listens to, while there are
        more than `max_topics` (counting `extra` about to come) or they hold more than `total_bytes`."""
        if len(self._topics) + extra <= self.max_topics and self._bytes <= self.total_bytes:
            return
        for name in [name for name in self._topics if not self._held(name)]:
            if len(self._topics) + extra <= self.max_topics and self._bytes <= self.total_bytes:
                break
            topic = self._topics.pop(name)
            self._bytes -= len(name) + topic.history_bytes
            self._evicted[_key(name)] = topic.seq
            while len(self._evicted) > EVICTED_KEPT:
                self._evicted.popitem(last=False)

    async def listen(self, topics: Iterable[str]) -> None:
        """Every event of this process reaches the hub already."""

    def unlisten(self, topics: Iterable[str]) -> None:
        """Nothing to release."""

    async def history(self, topic: str, after: int, *, partial: bool = False) -> list[tuple[int, str]] | None:
        """Frames after `after`, from memory."""
        state = self._topics.get(topic)
        seq = state.seq if state is not None else self._evicted.get(_key(topic), 0)
        if after > seq or after < 0:
            return None
        if after == seq:
            return []
        if state is None:
            return None
        oldest = state.history[0][0] if state.history else seq + 1
        if after + 1 < oldest and not partial:
            return None
        return [(number, frame) for number, frame in state.history if number > after]

    def stats(self) -> dict[str, int]:
        """Topics and the memory their history holds."""
        return {"topics": len(self._topics), "topic_bytes": self._bytes, "published": self.published}

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing is held back, so nothing is left to send."""


def _key(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


def _nowhere(topic: str, seq: int, frame: str) -> None:
    """Where events go before a hub is bound: nobody listens yet."""


def _never(topic: str) -> bool:
    return False
