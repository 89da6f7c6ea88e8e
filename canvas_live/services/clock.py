"""Timestamps as the wire carries them: ISO-8601 UTC with milliseconds and a `Z`, sortable as text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_iso(offset_s: float = 0.0) -> str:
    """Now (plus `offset_s` seconds) as e.g. `2025-03-01T12:00:00.000Z`."""
    moment = datetime.now(UTC) + timedelta(seconds=offset_s)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
