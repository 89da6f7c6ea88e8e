"""The in-process pub/sub hub: topics, per-topic `seq`, bounded history for resume, fan-out.

Delivery model (docs/protocol.md, "Subscriptions and events"): an event is encoded once per publish
and the same text goes to every subscriber through `Subscriber.deliver`, which must never block:
the subscriber owns a bounded queue and drops itself when it overflows. Publishing is synchronous
so that no publisher ever waits on a client. Each topic keeps its last `history_size` frames
(within a byte budget); `subscribe` with `since` and the current `epoch` replays what a
reconnecting client missed before any new event reaches it.

`Hub` is the interface a shared engine (Redis) can implement later; `MemoryHub` is the
single-process engine, chosen by the URL `memory://` in `create_hub`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import msgspec

from canvas_live.protocol.events import encode_event

TOPIC_NAMES = ("tasks", "canvases", "agents")
TOPIC_PREFIXES = ("task:", "canvas:")


MAX_TOPIC = 1100
"""Characters of a topic name: `canvas:` and the longest canvas name, with room to spare."""


def is_valid_topic(topic: str) -> bool:
    """A topic of the contract: `tasks`, `canvases`, `agents`, `task:<id>` or `canvas:<name>`."""
    if topic in TOPIC_NAMES:
        return True
    if len(topic) > MAX_TOPIC:
        return False
    return any(topic.startswith(prefix) and len(topic) > len(prefix) for prefix in TOPIC_PREFIXES)


class Subscriber(Protocol):
    """Whatever receives frames: a WebSocket connection in the server."""

    def deliver(self, frame: str) -> None:
        """Queue one encoded frame; never block, never raise."""


class SubscribeResult(msgspec.Struct):
    """What `subscribe` answers."""

    subscribed: list[str]
    epoch: str
    replayed: int
    recovered: dict[str, bool]


class Hub(Protocol):
    """The pub/sub interface the services and the server use."""

    epoch: str

    def publish(self, topic: str, event: str, fields: Mapping[str, Any]) -> int:
        """Publish an event now; returns its `seq`."""

    def subscribe(
        self, subscriber: Subscriber, topics: Iterable[str], since: Mapping[str, int] | None, epoch: str | None
    ) -> SubscribeResult:
        """Subscribe, replaying missed events where `since` and `epoch` allow."""

    def unsubscribe(self, subscriber: Subscriber, topics: Iterable[str]) -> list[str]:
        """Unsubscribe from the given topics; returns those it was subscribed to."""

    def remove(self, subscriber: Subscriber) -> None:
        """Forget a subscriber entirely (its connection is gone)."""

    def subscription_count(self, subscriber: Subscriber) -> int:
        """How many topics `subscriber` listens to (for the per-connection limit)."""

    def topics_of(self, subscriber: Subscriber) -> set[str]:
        """The topics `subscriber` listens to (a copy)."""

    def stats(self) -> dict[str, int]:
        """Counters for `server.info`."""

    async def close(self) -> None:
        """Flush what is pending and release resources."""


class _Topic:
    """One topic's state: its seq counter, its recent frames and its subscribers."""

    __slots__ = ("history", "history_bytes", "seq", "subscribers")

    def __init__(self, seq: int = 0) -> None:
        self.seq = seq
        self.history: deque[tuple[int, str]] = deque()
        self.history_bytes = 0
        self.subscribers: dict[Subscriber, None] = {}

    def remember(self, seq: int, frame: str, max_events: int, max_bytes: int) -> None:
        """Keep a frame for resume, dropping the oldest beyond the count or the size budget."""
        history = self.history
        history.append((seq, frame))
        self.history_bytes += len(frame)
        while len(history) > max_events or (self.history_bytes > max_bytes and len(history) > 1):
            self.history_bytes -= len(history.popleft()[1])


class MemoryHub:
    """The single-process hub engine."""

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
        self._subscriptions: dict[Subscriber, set[str]] = {}
        self.published = 0
        self._bytes = 0
        """History and topic names held, in characters: bounded by `total_bytes` over all topics."""
        # The last seq of each evicted topic, by a hash of its name (16 bytes a topic, against its
        # history's kilobytes), the oldest forgotten beyond `EVICTED_KEPT`.
        self._evicted: OrderedDict[bytes, int] = OrderedDict()

    def _topic(self, name: str) -> _Topic:
        topic = self._topics.get(name)
        if topic is None:
            self._evict(extra=1)
            # A topic evicted earlier goes on counting: a client resuming it must not mistake the
            # new seq 1, 2, … for the events it saw before, so it is told `recovered: false`.
            topic = self._topics[name] = _Topic(self._evicted.pop(_key(name), 0))
            self._bytes += len(name)
        return topic

    def _evict(self, extra: int = 0) -> None:
        """Bound memory: drop the least recently published topics nobody listens to, while there are
        more than `max_topics` (counting `extra` about to come) or they hold more than `total_bytes`."""
        if len(self._topics) + extra <= self.max_topics and self._bytes <= self.total_bytes:
            return
        for name in [name for name, topic in self._topics.items() if not topic.subscribers]:
            if len(self._topics) + extra <= self.max_topics and self._bytes <= self.total_bytes:
                break
            self._drop(name)

    def _drop(self, name: str) -> None:
        """Forget a topic, keeping its seq if it had one."""
        topic = self._topics.pop(name)
        self._bytes -= len(name) + topic.history_bytes
        if topic.seq:
            self._evicted[_key(name)] = topic.seq
            while len(self._evicted) > EVICTED_KEPT:
                self._evicted.popitem(last=False)

    def _release(self, name: str) -> None:
        """A topic nobody listens to any more that never carried an event holds nothing: forget it."""
        topic = self._topics.get(name)
        if topic is not None and not topic.subscribers and not topic.seq:
            self._drop(name)

    def publish(self, topic: str, event: str, fields: Mapping[str, Any]) -> int:
        """Encode once, remember, and hand the same frame to every subscriber of `topic`."""
        state = self._topic(topic)
        self._topics.move_to_end(topic)
        state.seq += 1
        frame = encode_event(event, topic, state.seq, fields)
        self._bytes -= state.history_bytes
        state.remember(state.seq, frame, self.history_size, self.history_bytes)
        self._bytes += state.history_bytes
        self.published += 1
        if self._bytes > self.total_bytes:
            self._evict()
        for subscriber in state.subscribers:
            subscriber.deliver(frame)
        return state.seq

    def subscribe(
        self,
        subscriber: Subscriber,
        topics: Iterable[str],
        since: Mapping[str, int] | None = None,
        epoch: str | None = None,
    ) -> SubscribeResult:
        """Subscribe; for each topic named in `since`, replay the frames after that seq if we can."""
        mine = self._subscriptions.setdefault(subscriber, set())
        same_epoch = epoch == self.epoch
        subscribed: list[str] = []
        recovered: dict[str, bool] = {}
        replayed = 0
        for name in topics:
            subscribed.append(name)
            topic = self._topic(name)
            if name in mine:
                if since is not None and name in since:
                    recovered[name] = True  # already live on this connection: nothing was missed
                continue
            mine.add(name)
            topic.subscribers[subscriber] = None
            if since is None or name not in since:
                continue
            missed = self._missed(topic, since[name]) if same_epoch else None
            recovered[name] = missed is not None
            for frame in missed or ():
                subscriber.deliver(frame)
                replayed += 1
        return SubscribeResult(subscribed, self.epoch, replayed, recovered)

    @staticmethod
    def _missed(topic: _Topic, after: int) -> list[str] | None:
        """Frames with seq > `after`, or None when the history no longer reaches back that far."""
        if after > topic.seq or after < 0:
            return None
        if after == topic.seq:
            return []
        oldest = topic.history[0][0] if topic.history else topic.seq + 1
        if after + 1 < oldest:
            return None
        return [frame for seq, frame in topic.history if seq > after]

    def unsubscribe(self, subscriber: Subscriber, topics: Iterable[str]) -> list[str]:
        """Stop delivering the given topics to `subscriber`."""
        mine = self._subscriptions.get(subscriber)
        if not mine:
            return []
        removed = []
        for name in topics:
            if name in mine:
                mine.discard(name)
                topic = self._topics.get(name)
                if topic is not None:
                    topic.subscribers.pop(subscriber, None)
                    self._release(name)
                removed.append(name)
        return removed

    def remove(self, subscriber: Subscriber) -> None:
        """Drop every subscription of a subscriber that went away."""
        for name in self._subscriptions.pop(subscriber, ()):
            topic = self._topics.get(name)
            if topic is not None:
                topic.subscribers.pop(subscriber, None)
                self._release(name)

    def subscription_count(self, subscriber: Subscriber) -> int:
        """How many topics `subscriber` listens to (for the per-connection limit)."""
        return len(self._subscriptions.get(subscriber, ()))

    def topics_of(self, subscriber: Subscriber) -> set[str]:
        """The topics `subscriber` listens to (a copy)."""
        return set(self._subscriptions.get(subscriber, ()))

    def stats(self) -> dict[str, int]:
        """Counters for `server.info`."""
        return {
            "topics": len(self._topics),
            "topic_bytes": self._bytes,
            "subscribers": len(self._subscriptions),
            "subscriptions": sum(len(topics) for topics in self._subscriptions.values()),
            "published": self.published,
        }

    async def close(self) -> None:
        """Nothing is held back, so nothing is left to send."""


EVICTED_KEPT = 100_000
"""Evicted topics whose seq is remembered (a resume of an older one may be told `recovered: true` in error)."""


def _key(name: str) -> bytes:
    return hashlib.blake2b(name.encode(), digest_size=8).digest()


def create_hub(url: str, history_size: int = 1000) -> Hub:
    """Pick the hub engine from a URL; `memory://` is the only one so far."""
    if url.split("://", 1)[0] != "memory":
        raise ValueError(f"unsupported hub URL {url!r}: only memory:// is available")
    return MemoryHub(history_size=history_size)
