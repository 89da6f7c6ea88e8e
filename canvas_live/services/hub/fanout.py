"""The hub: this process's subscribers, over a broker that owns seq, history and transport.

Delivery model (docs/protocol.md, "Subscriptions and events"): the broker encodes each event once
and hands the same text back here, where it goes to every local subscriber of its topic through
`Subscriber.deliver`, which must never block: the subscriber owns a bounded queue and drops itself
when it overflows. Publishing never waits, on a client or on the broker.

`subscribe` with `since` and the current `epoch` replays what a reconnecting client missed before
any new event reaches it: the subscriber waits aside while the broker's history is read, the
events that arrive meanwhile are kept for it, and those the history already held are skipped by
their seq. Each topic remembers the last seq it delivered, so an event the broker hands over twice
(a history read again after a lost connection) reaches nobody twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import msgspec

from canvas_live.services.hub.broker import Broker


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


class _Local:
    """One topic as this process holds it: who listens, who waits for a replay, and the last seq delivered.

    A subscriber replayed up to a seq this process has not delivered yet (the history in Redis ran
    ahead of the events still on their way here) waits, with that seq as its `target`, until the
    live events reach it, so that it is given none of them twice.
    """

    __slots__ = ("last", "subscribers", "targets", "waiting")

    def __init__(self) -> None:
        self.subscribers: dict[Subscriber, None] = {}
        self.waiting: dict[Subscriber, list[tuple[int, str]]] = {}
        self.targets: dict[Subscriber, int] = {}
        self.last = 0


class Hub:
    """Local fan-out over a broker."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._topics: dict[str, _Local] = {}
        self._subscriptions: dict[Subscriber, set[str]] = {}
        self._epoch = ""
        broker.bind(self._deliver, self._topics.__contains__, self.catch_up)

    @property
    def epoch(self) -> str:
        """The broker's epoch: what a client sends back with `since` to resume."""
        return self.broker.epoch

    @property
    def engine(self) -> str:
        """Which broker carries the events (`memory` or `redis`)."""
        return self.broker.engine

    def publish(self, topic: str, event: str, fields: Mapping[str, Any]) -> None:
        """Publish an event; it reaches the subscribers when the broker hands it back (at once in memory)."""
        self.broker.publish(topic, event, fields)

    def _deliver(self, topic: str, seq: int, frame: str) -> None:
        local = self._topics.get(topic)
        if local is None or seq <= local.last:
            return
        local.last = seq
        for subscriber in local.subscribers:
            subscriber.deliver(frame)
        for held in local.waiting.values():
            held.append((seq, frame))
        if local.targets:
            for subscriber, target in list(local.targets.items()):
                if seq >= target:
                    del local.targets[subscriber]
                    self._go_live(subscriber, local, target, [])

    async def catch_up(self) -> None:
        """Deliver, from the broker's history, what each held topic missed since its last delivered seq.

        A broker calls this after its connection came back: events published meanwhile by other
        processes never reached this one. What the history no longer holds is lost to live
        subscribers (they see a gap in `seq`); a client that reconnects is told `recovered: false`.
        Under a new epoch (the broker lost its data) seqs count again from where the broker puts
        them: the last seq delivered is forgotten, and what the new history holds is delivered.
        """
        renewed = self.broker.epoch != self._epoch
        if renewed:
            self._epoch = self.broker.epoch
            for local in self._topics.values():
                local.last = 0
        for topic, local in list(self._topics.items()):
            if local.last == 0 and not renewed:
                continue  # nothing delivered here yet: no live subscriber has a gap to fill
            missed = await self.broker.history(topic, local.last, partial=True)
            for seq, frame in missed or ():
                self._deliver(topic, seq, frame)

    async def subscribe(
        self,
        subscriber: Subscriber,
        topics: Iterable[str],
        since: Mapping[str, int] | None = None,
        epoch: str | None = None,
    ) -> SubscribeResult:
        """Subscribe; for each topic named in `since`, replay the frames after that seq if the history allows.

        Every new topic is held (the subscriber waiting aside) before the first wait on the broker,
        so that no other subscriber leaving it meanwhile can make this process stop listening.
        """
        topics = list(dict.fromkeys(topics))
        mine = self._subscriptions.setdefault(subscriber, set())
        held = [name for name in topics if name not in mine]
        for name in held:
            local = self._topics.get(name)
            if local is None:
                local = self._topics[name] = _Local()
            local.waiting[subscriber] = []
            mine.add(name)
        try:
            await self.broker.listen(held)  # also waits for a listen another subscriber began
            same_epoch = epoch == self.broker.epoch
            recovered: dict[str, bool] = {}
            replayed = 0
            for name in topics:
                asked = since is not None and name in since
                if name not in held:
                    if asked:
                        recovered[name] = True  # already live on this connection: nothing was missed
                    continue
                after = since[name] if since is not None and asked and same_epoch else None
                missed = await self.broker.history(name, after) if after is not None else None
                local = self._topics.get(name)
                if local is None or self._subscriptions.get(subscriber) is not mine or name not in mine:
                    if local is not None:
                        local.waiting.pop(subscriber, None)
                    continue  # unsubscribed (or gone) while the history was read
                self._go_live(subscriber, local, after or 0, missed)
                if asked:
                    recovered[name] = missed is not None
                    replayed += len(missed or ())
        except BaseException:
            for name in held:
                local = self._topics.get(name)
                if local is not None:
                    local.waiting.pop(subscriber, None)
            self._drop(subscriber, held)
            raise
        return SubscribeResult(topics, self.broker.epoch, replayed, recovered)

    @staticmethod
    def _go_live(subscriber: Subscriber, local: _Local, after: int, missed: list[tuple[int, str]] | None) -> None:
        """Hand `subscriber` what it missed, then what arrived while the history was read, then make it live
        (or, when the history ran ahead of this process's deliveries, keep it waiting for them)."""
        last = after
        for seq, frame in missed or ():
            subscriber.deliver(frame)
            last = seq
        if missed is not None and last > local.last:
            local.targets[subscriber] = last
            local.waiting[subscriber] = []
            return
        for seq, frame in local.waiting.pop(subscriber, ()):
            if missed is None or seq > last:
                subscriber.deliver(frame)
        local.subscribers[subscriber] = None

    def unsubscribe(self, subscriber: Subscriber, topics: Iterable[str]) -> list[str]:
        """Stop delivering the given topics to `subscriber`; returns those it was subscribed to."""
        mine = self._subscriptions.get(subscriber)
        if not mine:
            return []
        removed = [name for name in topics if name in mine]
        self._drop(subscriber, removed)
        return removed

    def remove(self, subscriber: Subscriber) -> None:
        """Drop every subscription of a subscriber that went away."""
        self._drop(subscriber, list(self._subscriptions.get(subscriber, ())))
        self._subscriptions.pop(subscriber, None)

    def _drop(self, subscriber: Subscriber, names: list[str]) -> None:
        mine = self._subscriptions.get(subscriber, set())
        idle = []
        for name in names:
            mine.discard(name)
            local = self._topics.get(name)
            if local is None:
                continue
            local.subscribers.pop(subscriber, None)
            local.waiting.pop(subscriber, None)
            local.targets.pop(subscriber, None)
            if not local.subscribers and not local.waiting:
                del self._topics[name]
                idle.append(name)
        if idle:
            self.broker.unlisten(idle)

    def subscription_count(self, subscriber: Subscriber) -> int:
        """How many topics `subscriber` listens to (for the per-connection limit)."""
        return len(self._subscriptions.get(subscriber, ()))

    def topics_of(self, subscriber: Subscriber) -> set[str]:
        """The topics `subscriber` listens to (a copy)."""
        return set(self._subscriptions.get(subscriber, ()))

    def stats(self) -> dict[str, int]:
        """Counters for `server.info`: the broker's, and this process's subscribers."""
        return {
            **self.broker.stats(),
            "subscribers": len(self._subscriptions),
            "subscriptions": sum(len(topics) for topics in self._subscriptions.values()),
        }

    async def start(self) -> None:
        """Connect the broker."""
        await self.broker.start()
        self._epoch = self.broker.epoch

    async def close(self) -> None:
        """Let the broker send what it still holds."""
        await self.broker.close()
