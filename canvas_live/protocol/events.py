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
