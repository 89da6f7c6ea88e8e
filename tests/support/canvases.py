"""The project's own canvas fixtures, and a way to compare JSON documents exactly."""

from __future__ import annotations

from pathlib import Path

import msgspec

CANVAS_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def ordered(data: bytes) -> bytes:
    """A JSON document re-encoded compactly: equal for two files only with the same keys, order and values."""
    return msgspec.json.encode(msgspec.json.decode(data))
