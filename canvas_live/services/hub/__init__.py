"""Pub/sub: the hub (this process's subscribers) over a broker (seq, history, epoch, transport).

`create_hub` picks the broker from a URL, as broadcaster does: `memory://` (one process, the
default) or `redis://HOST:PORT/DB` (several processes on one Redis, docs/scale-out.md).
"""

from __future__ import annotations

from canvas_live.services.cluster import Cluster
from canvas_live.services.hub.broker import Broker
from canvas_live.services.hub.fanout import Hub, Subscriber, SubscribeResult
from canvas_live.services.hub.memory import MemoryBroker
from canvas_live.services.hub.redis import RedisBroker
from canvas_live.services.hub.topics import MAX_TOPIC, is_valid_topic

__all__ = [
    "MAX_TOPIC",
    "Broker",
    "Hub",
    "MemoryBroker",
    "RedisBroker",
    "SubscribeResult",
    "Subscriber",
    "create_hub",
    "is_valid_topic",
]


def create_hub(url: str, history_size: int = 1000, cluster: Cluster | None = None) -> Hub:
    """A hub on the broker the URL names; `redis://` needs the process's `cluster` connection."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        return Hub(MemoryBroker(history_size=history_size))
    if scheme in ("redis", "rediss", "unix") and cluster is not None:
        return Hub(RedisBroker(cluster, history_size=history_size))
    raise ValueError(f"unsupported hub URL {url!r}: use memory:// or redis://HOST:PORT/DB")
