"""What a broker is: the part of the hub that is shared between processes.

The hub is split the way Centrifugo (node vs engine) and broadcaster (front vs backend) split it:
`Hub` holds this process's subscribers and hands each event to them; a `Broker` owns what every
process must agree on: the `seq` of each topic, the history a resume replays, the epoch, and
carrying events between processes. A broker hands every event back to the hub through the
`Deliver` callback it was bound to, the events this process published included, so that every
process delivers one topic in one order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

Deliver = Callable[[str, int, str], None]
"""`deliver(topic, seq, frame)`: an event came back from the broker, encoded once."""

Held = Callable[[str], bool]
"""`held(topic)`: whether a subscriber of this process listens to the topic."""

Resync = Callable[[], Awaitable[None]]
"""`resync()`: catch every held topic up from the history, after the broker may have missed events."""


class Broker(Protocol):
    """Seq, history, epoch and transport of events; the hub's only way to publish."""

    engine: str
    """`memory` or `redis`, for `server.info`."""

    epoch: str
    """Names one unbroken history: it changes when the history was lost (a restart, Redis losing its data)."""

    def bind(self, deliver: Deliver, held: Held, resync: Resync) -> None:
        """Attach the hub: where events go, which topics are held, and whom to tell when events may have been missed."""

    def publish(self, topic: str, event: str, fields: Mapping[str, Any]) -> int | None:
        """Give the event a `seq` and send it to every process; never blocks, never raises.

        Returns the seq when the broker knows it at once (memory), None when it is given later (Redis).
        """

    async def listen(self, topics: Iterable[str]) -> None:
        """Make sure this process receives the events of `topics` from now on (raises UNAVAILABLE if it cannot)."""

    def unlisten(self, topics: Iterable[str]) -> None:
        """This process no longer needs the events of `topics`."""

    async def history(self, topic: str, after: int, *, partial: bool = False) -> list[tuple[int, str]] | None:
        """The frames of `topic` with seq > `after`, oldest first; None when the history does not reach back
        (with `partial`, whatever it still holds after `after` instead)."""

    def stats(self) -> dict[str, int]:
        """Counters for `server.info` and `/metrics`."""

    async def start(self) -> None:
        """Connect (a memory broker has nothing to do)."""

    async def close(self) -> None:
        """Send what is still buffered, as far as possible, and disconnect."""
