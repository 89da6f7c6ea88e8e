"""Event frames: server-to-client notifications that carry `topic` and `seq` beside their fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from canvas_live.protocol.jsonrpc import encode_notification


def encode_event(event: str, topic: str, seq: int, fields: Mapping[str, Any]) -> str:
    """Encode an event once, as the text every subscriber of the topic is sent."""
    params = {"topic": topic, "seq": seq}
    params.update(fields)
    return encode_notification(event, params).decode()


_SEQ = ',"seq":0'


def encode_event_around_seq(event: str, topic: str, fields: Mapping[str, Any]) -> tuple[str, str]:
    """The event's text before and after its `seq`, for a broker that learns the seq elsewhere (Redis).

    `head + str(seq) + tail` is exactly `encode_event(event, topic, seq, fields)`: the topic is
    encoded first, as a JSON string in which a quote is always escaped, so the first `,"seq":0` is
    the seq's own.
    """
    head, _, tail = encode_event(event, topic, 0, fields).partition(_SEQ)
    return head + ',"seq":', tail
