"""Watching the vault for canvases changed by anything else: Obsidian saving, git, a sync tool.

The watcher only says *which* canvases were touched; the service decides, under each canvas's
lock, whether the file really changed and whether the change was its own write.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from watchfiles import Change, awatch

from canvas_live.protocol.errors import RpcError
from canvas_live.services.canvas.files import SUFFIX, Vault

log = logging.getLogger("canvas_live.canvases")
logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every batch of changes at INFO

DEBOUNCE_MS = 400
"""Longest a burst of file events is gathered before it is handed over."""

STEP_MS = 50
"""Quiet time that ends a burst: the usual delay between a save and its event."""


async def watch_vault(vault: Vault, stop: asyncio.Event, changed: Callable[[str, bool], Awaitable[None]]) -> None:
    """Call `changed(name, added)` for every canvas touched on disk, until `stop` is set.

    A failure of the watcher itself is logged and ends the watch: reads still notice external edits
    by the file's identity, so nothing is lost but the push.
    """
    try:
        async for changes in awatch(
            vault.root,
            watch_filter=lambda change, path: _relevant(vault, change, Path(path)),
            stop_event=stop,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
        ):
            touched = await asyncio.to_thread(_canvases_in, vault, changes)
            for name, added in sorted(touched.items()):
                try:
                    await changed(name, added)
                except RpcError as exc:  # Redis away: the change is seen again by the next read
                    log.warning("an external change of canvas %r could not be checked: %s", name, exc.message)
                except Exception:
                    log.exception("checking an external change of canvas %r failed", name)
    except Exception:
        log.exception("watching %s stopped; external edits are now noticed on the next read", vault.root)


def _relevant(vault: Vault, change: Change, path: Path) -> bool:
    """Canvases, and anything added (it may be a folder); nothing hidden, such as our temporary files."""
    relative = vault.relative(path)
    return relative is not None and (relative.endswith(SUFFIX) or change == Change.added)


def _canvases_in(vault: Vault, changes: Iterable[tuple[Change, str]]) -> dict[str, bool]:
    """Canvas names a batch of changes touched, each with whether it was added.

    A folder that appeared is scanned: files made in it before the watch reached it have no event.
    """
    touched: dict[str, bool] = {}
    for change, raw in changes:
        path = Path(raw)
        name = vault.name_of(path)
        if name is not None:
            touched[name] = touched.get(name, False) or change == Change.added
            continue
        folder = vault.relative(path)
        if folder is None or not os.path.isdir(path):
            continue
        try:
            touched.update((found, True) for found, _ in vault.walk(folder))
        except RpcError:
            continue  # gone again, or a link out of the vault
    return touched
