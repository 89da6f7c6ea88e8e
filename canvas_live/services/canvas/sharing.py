"""What the canvas service shares with other processes on the same vault: locks and announcements.

One process (the default) shares nothing: its own per-canvas locks are enough and every change it
sees is its to announce. Several processes on one vault (docs/scale-out.md) also take a lock in
Redis around every write, and agree on who announces a new version of a canvas: the first to
claim it. A server write claims its version before the lock is released, so the other processes'
watchers, which take the same lock to look, know it is not an editor's save.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Protocol


class Sharing(Protocol):
    """How a canvas service coordinates with the other processes on its vault."""

    def lock(self, name: str) -> AbstractAsyncContextManager[object]:
        """Hold `name` against every other process (inside this process's own lock)."""

    async def claim(self, name: str, version: str, source: str) -> str | None:
        """Claim the announcement of `version` as `source` (`server` or `external`).

        `version` names what is announced: a version of the canvas in its file, `deleted:…`, or
        `created` (the canvas itself, whatever its version).

        None when this process is the first, else the source of whoever claimed it.
        """

    async def release(self, name: str, version: str) -> None:
        """Forget a claim, so that the same announcement can be made again (a canvas created anew)."""


class Alone:
    """A single process: nothing to coordinate."""

    def lock(self, name: str) -> AbstractAsyncContextManager[object]:
        """This process's own locks are enough."""
        return nullcontext()

    async def claim(self, name: str, version: str, source: str) -> str | None:
        """Every change is this process's to announce."""
        return None

    async def release(self, name: str, version: str) -> None:
        """Nothing was held."""
