"""The topics of the contract and how their names are checked."""

from __future__ import annotations

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
