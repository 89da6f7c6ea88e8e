"""Placing new nodes on a canvas without covering what the learner already has there.

Rectangles are JSON Canvas geometry (x, y of the top-left corner, width, height, integers).
Group nodes are frames that other nodes sit inside, so they never count as obstacles.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MARGIN = 40
"""Space kept between a placed block and any existing node."""


@dataclass(frozen=True, slots=True)
class Rect:
    """An axis-aligned rectangle."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def of(cls, node: dict[str, Any]) -> Rect:
        """The rectangle a node covers."""
        return cls(int(node["x"]), int(node["y"]), int(node["width"]), int(node["height"]))

    @property
    def right(self) -> int:
        """x of the right edge."""
        return self.x + self.width

    @property
    def bottom(self) -> int:
        """y of the bottom edge."""
        return self.y + self.height

    def overlaps(self, other: Rect, margin: int = 0) -> bool:
        """True when the two rectangles (each grown by `margin`) share any area."""
        return (
            self.x < other.right + margin
            and other.x < self.right + margin
            and self.y < other.bottom + margin
            and other.y < self.bottom + margin
        )


def obstacles(nodes: Iterable[dict[str, Any]]) -> list[Rect]:
    """Rectangles of every node a new one must not cover (groups are frames, not obstacles)."""
    return [Rect.of(node) for node in nodes if node.get("type") != "group"]


def place_right_of(anchor: Rect, width: int, height: int, taken: list[Rect]) -> Rect:
    """A free `width` x `height` spot to the right of `anchor`, vertically centred on it.

    Starts one margin right of the anchor and jumps past whatever it would cover, so it always
    ends, and never lands on an existing node.
    """
    y = anchor.y + anchor.height // 2 - height // 2
    x = anchor.right + 2 * MARGIN
    while True:
        spot = Rect(x, y, width, height)
        blocking = [rect for rect in taken if spot.overlaps(rect, MARGIN)]
        if not blocking:
            return spot
        x = max(rect.right for rect in blocking) + MARGIN
