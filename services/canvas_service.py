"""The async canvas service: reads, edits and creates canvases, and tells live clients what changed.

- Every blocking call (stat, read, parse, write, fsync) runs in `asyncio.to_thread`.
- Each canvas has a lock, taken before any I/O, so edits from many clients apply in arrival order
  and a read-modify-write never loses another one's update.
- Parsed canvases are cached by file identity (device, inode, size, mtime_ns): a repeated read of
  an unchanged file costs one `fstat`, not a parse.
- Edits publish `canvas.changed` (source `server`, with the ops) on `canvas:<name>`; creations
  publish `canvas.created` on `canvases`.
- Edits made by anything else (Obsidian saving a file) are noticed by a vault watcher, or by the
  next read, whichever comes first, and published once with source `external` and no ops. The
  server's own writes are recognised by the file identity and version they produced.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from protocol.errors import ErrorCode, ErrorInfo, RpcError, not_found
from services.canvas_edit import Draft, conflict
from services.canvas_files import (
    SUFFIX,
    FileState,
    NotACanvasFile,
    Vault,
    forbidden,
    normalise_name,
    read_file,
    seed_demo,
    write_atomic,
)
from services.canvas_format import CanvasFormatError, Document, parse, serialise
from services.canvas_watch import watch_vault
from services.hub import Hub
from services.palette import PALETTES

log = logging.getLogger("canvas_live.canvases")

T = TypeVar("T")

CACHE_BYTES = 64 << 20
"""Parsed canvases are kept while their files add up to at most this many bytes (least recent go)."""


class CanvasEntry(msgspec.Struct, omit_defaults=True):
    """One row of `canvas.list`: counts and version, or why the file cannot be read as a canvas."""

    name: str
    modified: float
    nodes: int | None = None
    edges: int | None = None
    version: str | None = None
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class CanvasView:
    """A canvas as read; the document is shared with the cache and must not be changed."""

    name: str
    version: str
    document: Document


@dataclass(frozen=True, slots=True)
class _Cached:
    """One parse of one file version: its document, or the reason it is not a canvas."""

    state: FileState
    document: Document | None
    problem: CanvasFormatError | None


def _read_parsed(path: Path, cached: _Cached | None) -> _Cached:
    """Read and parse `path` unless `cached` is still what is on disk."""
    state, data = read_file(path, cached.state.identity if cached is not None else None)
    if state is None:
        assert cached is not None
        return cached
    try:
        return _Cached(state, parse(data), None)
    except CanvasFormatError as problem:
        return _Cached(state, None, problem)


async def _outlast_cancellation(commit: Coroutine[Any, Any, T]) -> T:
    """Run a write to its end even if the caller is cancelled (its client went away mid-write).

    The thread doing the write cannot be stopped; waiting for it keeps the canvas's lock held until
    the file is replaced, so no other edit starts from the old file, and the write is still
    remembered and announced as the server's own. The caller's cancellation is raised afterwards.
    """
    task = asyncio.ensure_future(commit)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError as exc:
            if task.cancelled():
                raise
            cancelled = exc
    if cancelled is not None:
        raise cancelled
    return result


def invalid_canvas(name: str, problem: CanvasFormatError) -> RpcError:
    """-32003 for a file that is not valid JSON Canvas, saying where."""
    return RpcError(
        ErrorCode.INVALID_CANVAS, f"canvas {name!r} is not valid JSON Canvas: {problem}", name=name, at=problem.path
    )


class CanvasService:
    """Canvases of one vault, for the RPC methods and the learning workflows."""

    def __init__(
        self,
        vault: Path,
        hub: Hub,
        palette: str = "cls",
        *,
        backups: int = 3,
        watch: bool = True,
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.vault = Vault(vault, backups)
        self.hub = hub
        self.palette = PALETTES[palette]
        self.watch = watch
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._cached_bytes = 0
        # What clients were last told (or the server last saw under the lock), per canvas: an
        # edit is external when the file on disk is at another version.
        self._versions: dict[str, str] = {}
        self._present: set[str] = set()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._stop = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, demo: bool = False) -> None:
        """Create the vault (seeding the demo canvases if asked and it is empty) and start watching it."""
        if demo:
            seeded = await asyncio.to_thread(seed_demo, self.vault.root)
            if seeded:
                log.info("seeded %d demo canvases into %s", len(seeded), self.vault.root)
        else:
            await asyncio.to_thread(self.vault.root.mkdir, parents=True, exist_ok=True)
        self._present = {name for name, _ in await asyncio.to_thread(lambda: list(self.vault.walk("")))}
        if self.watch:
            self._watcher = asyncio.create_task(
                watch_vault(self.vault, self._stop, self._check_external), name="canvas-watcher"
            )

    async def close(self) -> None:
        """Stop watching the vault."""
        self._stop.set()
        if self._watcher is not None:
            await self._watcher

    # -- reading ------------------------------------------------------------------------------

    async def list_canvases(self, folder: str | None = None) -> list[CanvasEntry]:
        """Every canvas under `folder` (the whole vault by default) with its counts, sorted by name."""
        prefix = normalise_name(folder or "", folder=True)
        cached = dict(self._cache)
        scanned = await asyncio.to_thread(self._scan, prefix, cached)
        entries = []
        for name, entry in scanned:
            if entry is not cached.get(name):
                self._keep(name, entry)
            if entry.document is None:
                assert entry.problem is not None
                info = invalid_canvas(name, entry.problem).to_info()
                entries.append(CanvasEntry(name, entry.state.modified, error=info))
            else:
                document = entry.document
                nodes, edges = len(document.nodes), len(document.edges)
                entries.append(CanvasEntry(name, entry.state.modified, nodes, edges, entry.state.version))
        return sorted(entries, key=lambda entry: entry.name)

    def _scan(self, prefix: str, cached: dict[str, _Cached]) -> list[tuple[str, _Cached]]:
        scanned = []
        for name, path in self.vault.walk(prefix):
            try:
                scanned.append((name, _read_parsed(path, cached.get(name))))
            except (FileNotFoundError, NotACanvasFile):
                continue  # deleted or replaced by something else while listing
        return scanned

    async def read(self, name: str) -> CanvasView:
        """The canvas as it is on disk now (from the cache when the file has not changed)."""
        async with self._locked(name) as (canonical, path):
            return await self._load(canonical, path)

    # -- writing ------------------------------------------------------------------------------

    async def create(
        self, name: str, nodes: Iterable[dict[str, Any]] = (), edges: Iterable[dict[str, Any]] = ()
    ) -> tuple[str, str]:
        """Write a new canvas (CONFLICT if the name is taken); returns its canonical name and version."""
        async with self._locked(name) as (canonical, path):
            draft = Draft(Document.empty())
            for index, node in enumerate(nodes):
                draft.add_node(node, f"nodes[{index}]")
            for index, edge in enumerate(edges):
                draft.add_edge(edge, f"edges[{index}]")
            document = draft.finish()
            try:
                version = await _outlast_cancellation(self._commit_new(canonical, path, document))
            except FileExistsError:
                raise conflict(f"canvas {canonical!r} already exists", kind="canvas", name=canonical) from None
            return canonical, version

    async def edit(self, name: str, change: Callable[[Draft], T], if_version: str | None = None) -> tuple[T, str]:
        """Apply `change` to a draft of the canvas under its lock, write once, publish its ops.

        Returns what `change` returned and the new version. A stale `if_version` is CONFLICT with the
        current version in `data.version`; an edit that changes nothing writes nothing.
        """
        async with self._locked(name) as (canonical, path):
            view = await self._load(canonical, path)
            if if_version is not None and if_version != view.version:
                raise conflict(
                    f"canvas {canonical!r} is at version {view.version}, not {if_version}",
                    kind="canvas",
                    name=canonical,
                    version=view.version,
                )
            draft = Draft(view.document)
            result = change(draft)
            if not draft.ops:
                return result, view.version
            version = await _outlast_cancellation(self._commit(canonical, path, draft.finish(), draft.ops))
            return result, version

    async def _commit(self, name: str, path: Path, document: Document, ops: list[dict[str, Any]]) -> str:
        """Write an edited canvas, remember it as the server's own, and announce its ops."""
        state = await asyncio.to_thread(self._write, name, path, document)
        self._keep(name, _Cached(state, document, None))
        self._versions[name] = state.version
        self.hub.publish(
            f"canvas:{name}", "canvas.changed", {"name": name, "version": state.version, "source": "server", "ops": ops}
        )
        return state.version

    async def _commit_new(self, name: str, path: Path, document: Document) -> str:
        """Write a new canvas (never over an existing file), remember it, and announce it."""
        state = await asyncio.to_thread(self._write_new, path, document)
        self._keep(name, _Cached(state, document, None))
        self._versions[name] = state.version
        self._present.add(name)
        self.hub.publish("canvases", "canvas.created", {"name": name, "version": state.version, "source": "server"})
        return state.version

    def _write(self, name: str, path: Path, document: Document) -> FileState:
        data = serialise(document)
        self.vault.backup(name, path)
        return write_atomic(path, data)

    @staticmethod
    def _write_new(path: Path, document: Document) -> FileState:
        path.parent.mkdir(parents=True, exist_ok=True)
        return write_atomic(path, serialise(document), exclusive=True)

    # -- locks, cache, external changes ---------------------------------------------------------

    def _lock(self, name: str) -> asyncio.Lock:
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def _locked(self, name: str) -> AsyncIterator[tuple[str, Path]]:
        """Hold the canvas's lock; yields its canonical name and real path.

        The lock of the name as given is taken before any I/O (so arrival order is kept); when a
        symlink makes it an alias, the canonical name's lock is taken as well.
        """
        given = normalise_name(name)
        async with self._lock(given):
            canonical, path = await asyncio.to_thread(self.vault.locate, given)
            if canonical == given:
                yield canonical, path
            else:
                async with self._lock(canonical):
                    yield canonical, path

    async def _load(self, name: str, path: Path) -> CanvasView:
        """Read a canvas under its lock, publishing an external edit if this is where it is first seen."""
        try:
            entry = await asyncio.to_thread(_read_parsed, path, self._cache.get(name))
        except FileNotFoundError:
            raise not_found("canvas", name) from None
        except NotACanvasFile:
            raise forbidden(name, "not a .canvas file") from None
        self._keep(name, entry)
        self._seen(name, entry.state.version)
        if entry.document is None:
            assert entry.problem is not None
            raise invalid_canvas(name, entry.problem)
        return CanvasView(name, entry.state.version, entry.document)

    def _keep(self, name: str, entry: _Cached) -> None:
        """Cache a parse, dropping the least recently used ones beyond `cache_bytes`."""
        old = self._cache.pop(name, None)
        if old is not None:
            self._cached_bytes -= old.state.identity[2]
        self._cache[name] = entry
        self._cached_bytes += entry.state.identity[2]
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= dropped.state.identity[2]

    def _forget(self, name: str) -> None:
        old = self._cache.pop(name, None)
        if old is not None:
            self._cached_bytes -= old.state.identity[2]
        self._versions.pop(name, None)

    def _seen(self, name: str, version: str) -> None:
        """Record the version on disk; announce it as an external edit when it is not the last one known."""
        previous = self._versions.get(name)
        self._versions[name] = version
        self._present.add(name)
        if previous is not None and previous != version:
            fields = {"name": name, "version": version, "source": "external", "ops": []}
            self.hub.publish(f"canvas:{name}", "canvas.changed", fields)

    async def _check_external(self, name: str, added: bool) -> None:
        """Publish what happened to a canvas the watcher saw change, unless it was the server's own write."""
        async with self._lock(name):
            path = self.vault.root / (name + SUFFIX)
            try:
                entry = await asyncio.to_thread(_read_parsed, path, self._cache.get(name))
            except (FileNotFoundError, NotACanvasFile):
                if name in self._present:
                    self._present.discard(name)
                    self._forget(name)
                    self.hub.publish("canvases", "canvas.deleted", {"name": name, "source": "external"})
                return
            self._keep(name, entry)
            if name not in self._present and added:
                self._present.add(name)
                self._versions[name] = entry.state.version
                fields = {"name": name, "version": entry.state.version, "source": "external"}
                self.hub.publish("canvases", "canvas.created", fields)
                return
            if self._versions.get(name) is None:
                self._versions[name] = ""  # never seen before: whatever is on disk now is news
            self._seen(name, entry.state.version)
