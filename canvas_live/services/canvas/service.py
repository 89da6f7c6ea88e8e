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
- The learner's editor writes the same files, so nothing here trusts a file to hold still: a file
  that is empty or not valid JSON and was written a moment ago is a save in progress and is waited
  for (`_load`); every write is a compare-and-swap against the version it was computed from, and
  an edit that lost the race is computed again on top of the editor's save (`edit`); a save made
  from a copy older than the server's last edits gets those edits applied again (`_reapply`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from canvas_live.protocol import logcontext
from canvas_live.protocol.errors import ErrorCode, ErrorInfo, RpcError, not_found
from canvas_live.services.canvas.edit import Draft, conflict, replay
from canvas_live.services.canvas.files import (
    SUFFIX,
    Displaced,
    FileState,
    NotACanvasFile,
    Vault,
    forbidden,
    normalise_name,
    read_file,
    seed_demo,
)
from canvas_live.services.canvas.format import CanvasFormatError, Document, parse, serialise
from canvas_live.services.canvas.palette import PALETTES, convention_votes, palette_hint
from canvas_live.services.canvas.sharing import Alone, Sharing
from canvas_live.services.canvas.watch import watch_vault
from canvas_live.services.hub import Hub
from canvas_live.services.storage import disk_refusals

log = logging.getLogger("canvas_live.canvases")

T = TypeVar("T")

CACHE_BYTES = 64 << 20
"""Parsed canvases are kept while their files add up to at most this many bytes (least recent go)."""

SETTLE_QUIET = 0.25
"""Seconds a file that is empty or not valid JSON must have gone unwritten to be taken as meant."""

SETTLE_QUIET_AFTER_WHOLE = 2.0
"""The same for a file that was a whole canvas when last read: no editor saves a canvas as an empty
file (Obsidian writes `{}` at the least), so an emptied canvas is taken as meant only after this."""

SETTLE_LIMIT = 0.6
"""Seconds to wait for a save in progress to finish before answering BUSY."""

SETTLE_STEP = 0.01
"""Seconds between two looks at a file being saved."""

REBASE_ATTEMPTS = 5
"""Times an edit is computed again on top of an editor's save before it gives up with BUSY."""

REAPPLY_WINDOW = 1.0
"""Seconds after a server edit during which a save that holds none of it is taken as made without it
(an editor's save of a copy it read just before the edit); later, a save that drops it is the
learner's choice."""


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
    blank: bool = False
    """The bytes read were empty or whitespace (judged by the bytes: a file may be truncated between
    `fstat` and `read`)."""

    @property
    def whole(self) -> bool:
        """A valid canvas with something in it: nothing a save in progress could look like."""
        return self.document is not None and not self.blank

    def settled(self, before: _Cached | None) -> bool:
        """Whether what is on disk has gone unwritten long enough to be what its writer meant."""
        if self.whole:
            return True
        quiet = SETTLE_QUIET_AFTER_WHOLE if before is not None and before.whole else SETTLE_QUIET
        return time.time_ns() - self.state.identity.mtime_ns >= quiet * 1e9


def _read_parsed(path: Path, cached: _Cached | None) -> _Cached:
    """Read and parse `path` unless `cached` is still what is on disk."""
    state, data = read_file(path, cached.state if cached is not None else None)
    if data is None:
        assert cached is not None
        return cached if state is cached.state else _Cached(state, cached.document, cached.problem, cached.blank)
    try:
        return _Cached(state, parse(data), None, not data.strip())
    except CanvasFormatError as problem:
        return _Cached(state, None, problem)


@dataclass(frozen=True, slots=True)
class _ServerEdit:
    """A server edit that reached the disk: kept a while, to be applied again to a save made without it."""

    base: Document
    ops: list[dict[str, Any]]
    at: float


VOTING_CANVASES = 200
"""Canvases read at start-up to tell which colour convention the vault follows (the newest first)."""


def _votes(found: list[tuple[str, Path]]) -> dict[str, int]:
    """The colour conventions' votes over the newest canvases of the vault (unreadable ones skipped)."""
    documents = []
    for _, path in sorted(found, key=lambda item: _mtime(item[1]), reverse=True)[:VOTING_CANVASES]:
        try:
            _state, data = read_file(path)
            documents.append(parse(data or b""))
        except (OSError, CanvasFormatError):
            continue
    return convention_votes(documents)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def busy(name: str) -> RpcError:
    """-32012: another program is writing the canvas and did not finish in time; nothing was changed."""
    return RpcError(
        ErrorCode.BUSY,
        f"canvas {name!r} is being saved by another program; nothing was changed, try again",
        name=name,
        retry_after=SETTLE_LIMIT,
    )


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
        palette: str = "obsidian",
        *,
        backups: int = 3,
        watch: bool = True,
        cache_bytes: int = CACHE_BYTES,
        sharing: Sharing | None = None,
    ) -> None:
        self.vault = Vault(vault, backups)
        self.sharing: Sharing = sharing if sharing is not None else Alone()
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
        self._recent: dict[str, list[_ServerEdit]] = {}
        self.on_write: Callable[[float], None] | None = None
        """Told how long each canvas write took, in seconds (for the metrics)."""
        self.palette_hint: str | None = None
        """Set at start-up when the vault's canvases plainly follow the other colour convention."""
        self.counters = {"canvas_writes": 0, "canvas_rebased": 0, "canvas_reapplied": 0, "canvas_busy": 0}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._stop = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, demo: bool = False) -> None:
        """Create the vault (seeding the demo canvases if asked and it is empty) and start watching it."""
        if demo:
            seeded = await asyncio.to_thread(seed_demo, self.vault, self.palette)
            if seeded:
                log.info("seeded %d demo canvases into %s", len(seeded), self.vault.root)
        else:
            await asyncio.to_thread(self.vault.root.mkdir, parents=True, exist_ok=True)
        try:
            swept = await asyncio.to_thread(self.vault.sweep)
        except OSError as exc:
            log.warning("could not remove temporary files left by a crash: %s", exc)
        else:
            if swept:
                log.info("removed %d temporary file(s) left by an earlier crash", swept)
        found = await asyncio.to_thread(lambda: list(self.vault.walk("")))
        self._present = {name for name, _ in found}
        self.palette_hint = palette_hint(self.palette.name, await asyncio.to_thread(_votes, found))
        if self.palette_hint:
            log.warning("%s", self.palette_hint)
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
            if entry is not cached.get(name) and entry.whole and self._cache.get(name) is cached.get(name):
                self._keep(name, entry)  # never a save in progress: `_settled` judges by what it last saw whole
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
            except OSError:
                continue  # deleted, replaced by something else, or unreadable while listing
        return scanned

    async def read(self, name: str) -> CanvasView:
        """The canvas as it is on disk now (from the cache when the file has not changed)."""
        async with self._locked(name) as (canonical, path):
            view, _state = await self._load(canonical, path)
            return view

    async def check_free(self, name: str) -> None:
        """FORBIDDEN_PATH for a name no canvas may have, CONFLICT for one that is taken."""
        async with self._locked(name) as (canonical, path):
            if await asyncio.to_thread(path.exists):
                raise conflict(f"canvas {canonical!r} already exists", kind="canvas", name=canonical)

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
        current version in `data.version`; an edit that changes nothing writes nothing. When an
        editor saves the canvas between the read and the write, the save is announced and `change`
        runs again on top of it; what no longer applies there (a node the save deleted) is CONFLICT.
        """
        async with self._locked(name) as (canonical, path):
            for attempt in range(REBASE_ATTEMPTS):
                view, state = await self._load(canonical, path)
                if if_version is not None and if_version != view.version:
                    raise conflict(
                        f"canvas {canonical!r} is at version {view.version}, not {if_version}",
                        kind="canvas",
                        name=canonical,
                        version=view.version,
                    )
                draft = Draft(view.document)
                try:
                    result = change(draft)
                except RpcError as exc:
                    if attempt and exc.code is ErrorCode.NOT_FOUND:
                        raise _lost_to_save(canonical, exc) from None
                    raise
                if not draft.ops:
                    return result, view.version
                try:
                    version = await _outlast_cancellation(self._commit(canonical, path, state, draft))
                except Displaced:
                    self.counters["canvas_rebased"] += 1
                    continue
                return result, version
            raise busy(canonical)

    async def _commit(self, name: str, path: Path, base: FileState, draft: Draft, at: float | None = None) -> str:
        """Write an edited canvas over `base`, remember it as the server's own, and announce its ops.

        `at` is when the edit was first made: an edit applied again keeps its first time, so it is
        applied again only within `REAPPLY_WINDOW` of that, never over and over.
        """
        document = draft.finish()
        started = time.perf_counter()
        state = await asyncio.to_thread(self._write, name, path, document, base)
        if self.on_write is not None:
            self.on_write(time.perf_counter() - started)
        self.counters["canvas_writes"] += 1
        self._keep(name, _Cached(state, document, None))
        self._versions[name] = state.version
        recent = self._recent.setdefault(name, [])
        recent.append(_ServerEdit(draft.base, draft.ops, time.monotonic() if at is None else at))
        del recent[:-REBASE_ATTEMPTS]
        await self._claim_own(name, _mark(state))
        fields = {"name": name, "version": state.version, "source": "server", "ops": draft.ops}
        self.hub.publish(f"canvas:{name}", "canvas.changed", fields)
        return state.version

    async def _commit_new(self, name: str, path: Path, document: Document) -> str:
        """Write a new canvas (never over an existing file), remember it, and announce it."""
        state = await asyncio.to_thread(self._write_new, name, path, document)
        self._keep(name, _Cached(state, document, None))
        self._versions[name] = state.version
        self._present.add(name)
        await self._claim_own(name, "created")
        self.hub.publish("canvases", "canvas.created", {"name": name, "version": state.version, "source": "server"})
        return state.version

    def _write(self, name: str, path: Path, document: Document, base: FileState) -> FileState:
        try:
            with disk_refusals(f"canvas {name!r} could not be written"):
                swapped = self.vault.swap_in(path, serialise(document), base)
        except FileNotFoundError:
            raise not_found("canvas", name) from None
        try:
            self.vault.keep_backup(name, swapped.replaced)
        except OSError as exc:
            log.warning("the canvas %r was written, but its backup could not be kept: %s", name, exc)
            if swapped.replaced is not None:
                swapped.replaced.unlink(missing_ok=True)
        return swapped.state

    def _write_new(self, name: str, path: Path, document: Document) -> FileState:
        with disk_refusals(f"canvas {name!r} could not be created"):
            return self.vault.write_new(path, serialise(document))

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
            token = logcontext.canvas.set(canonical)  # what this edit's log lines are about
            try:
                if canonical == given:
                    async with self.sharing.lock(canonical):
                        yield canonical, path
                else:
                    async with self._lock(canonical), self.sharing.lock(canonical):
                        yield canonical, path
            finally:
                logcontext.canvas.reset(token)

    async def _load(self, name: str, path: Path) -> tuple[CanvasView, FileState]:
        """Read a canvas under its lock once it holds still; announce it if it changed elsewhere.

        A file that is empty or not valid JSON and was written less than `SETTLE_QUIET` ago is an
        editor's save in progress (Obsidian truncates, then writes): it is read again until it is
        whole or has been left as it is, for at most `SETTLE_LIMIT`, then BUSY. Reading it as an
        empty canvas and editing that would write over the learner's canvas.
        """
        entry = await self._settled(name, path)
        if await self._seen(name, entry.state) and entry.document is not None:
            entry = await self._reapply(name, path, entry)
        if entry.document is None:
            assert entry.problem is not None
            raise invalid_canvas(name, entry.problem)
        return CanvasView(name, entry.state.version, entry.document), entry.state

    async def _settled(self, name: str, path: Path) -> _Cached:
        """The file as its writer meant it (see `_load`), cached."""
        deadline = time.monotonic() + SETTLE_LIMIT
        before = self._cache.get(name)
        while True:
            try:
                with disk_refusals(f"canvas {name!r} could not be read"):
                    entry = await asyncio.to_thread(_read_parsed, path, self._cache.get(name))
            except FileNotFoundError:
                raise not_found("canvas", name) from None
            except NotACanvasFile as exc:
                raise forbidden(name, exc.reason) from None
            if entry.settled(before):
                self._keep(name, entry)
                return entry
            if time.monotonic() >= deadline:
                self.counters["canvas_busy"] += 1
                raise busy(name)
            await asyncio.sleep(SETTLE_STEP)

    async def _reapply(self, name: str, path: Path, entry: _Cached) -> _Cached:
        """Apply again the recent server edits that an external save holds none of; the file as it is then.

        An editor that saves a copy it read before the server's write (its save was pending, or it
        had not reloaded yet) would otherwise drop the server's edit without anyone choosing to. An
        edit the save holds any part of is left alone: the learner has seen it and changed it.
        """
        document = entry.document
        assert document is not None
        now = time.monotonic()
        recent = [edit for edit in self._recent.pop(name, []) if now - edit.at < REAPPLY_WINDOW]
        missed = [edit for edit in recent if _misses(document, edit)]
        if not missed:
            return entry
        draft = Draft(document)
        try:
            for edit in missed:
                for op in edit.ops:
                    replay(draft, op, edit.base)
            first = min(edit.at for edit in missed)
            await _outlast_cancellation(self._commit(name, path, entry.state, draft, first))
        except (RpcError, Displaced) as exc:
            # Kept for the next save (within their window): an editor saving again is what usually follows.
            self._recent[name] = recent + self._recent.get(name, [])
            log.warning("a save of %r left out recent server edits that could not be applied again: %s", name, exc)
            return entry
        self.counters["canvas_reapplied"] += 1
        log.info("a save of canvas %r was made without %d recent server edit(s): applied again", name, len(missed))
        cached = self._cache.get(name)
        assert cached is not None
        return cached

    def _keep(self, name: str, entry: _Cached) -> None:
        """Cache a parse, dropping the least recently used ones beyond `cache_bytes`."""
        old = self._cache.pop(name, None)
        if old is not None:
            self._cached_bytes -= old.state.identity.size
        self._cache[name] = entry
        self._cached_bytes += entry.state.identity.size
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached_bytes -= dropped.state.identity.size

    def _forget(self, name: str) -> None:
        old = self._cache.pop(name, None)
        if old is not None:
            self._cached_bytes -= old.state.identity.size
        self._versions.pop(name, None)

    async def _seen(self, name: str, state: FileState) -> bool:
        """Record the version on disk; when it is news and no server wrote it, announce it (once, of all
        processes on the vault) as an external edit, and say so.

        The version is recorded only once the claim is made: should Redis be away, the change is
        still news at the next look (and announced then, its edits re-applied if need be).
        """
        version = state.version
        previous = self._versions.get(name)
        self._present.add(name)
        if previous is None or previous == version:
            self._versions[name] = version
            return False
        first = await self.sharing.claim(name, _mark(state), "external")
        self._versions[name] = version
        if first == "server":
            return False  # another process of this server wrote it
        if first is None:
            fields = {"name": name, "version": version, "source": "external", "ops": []}
            self.hub.publish(f"canvas:{name}", "canvas.changed", fields)
        return True

    async def _claim_own(self, name: str, mark: str) -> None:
        """Claim a version this process wrote, so no other process announces it as an editor's save.

        Best effort: the write has landed and is announced anyway; should Redis be away, another
        process's watcher may announce it a second time, as `external`, which loses nothing.
        """
        try:
            await self.sharing.claim(name, mark, "server")
        except RpcError as exc:
            log.warning("the write of canvas %r could not be claimed: %s", name, exc.message)

    async def _announces_creation(self, name: str) -> bool:
        """Whether this process is the one to announce a canvas that appeared: not one a server process
        made (it may be at a later version by the time the watcher looks), and first of all processes.
        The claim is the canvas's, whatever its version, until a deletion releases it."""
        return await self.sharing.claim(name, "created", "external") is None

    async def _check_external(self, name: str, added: bool) -> None:
        """Publish what happened to a canvas the watcher saw change, unless it was the server's own write."""
        async with self._lock(name), self.sharing.lock(name):
            path = self.vault.root / (name + SUFFIX)
            try:
                entry = await self._settled(name, path)
            except RpcError as exc:
                if exc.code is ErrorCode.BUSY:
                    return  # still being written: its last write will be seen again
                if name in self._present:
                    self._present.discard(name)
                    previous = self._versions.get(name) or ""
                    self._forget(name)
                    if await self.sharing.claim(name, f"deleted:{previous}", "external") is None:
                        self.hub.publish("canvases", "canvas.deleted", {"name": name, "source": "external"})
                        await self.sharing.release(name, "created")  # a canvas made again is news again
                return
            if name not in self._present and added:
                self._present.add(name)
                self._versions[name] = entry.state.version
                if await self._announces_creation(name):
                    fields = {"name": name, "version": entry.state.version, "source": "external"}
                    self.hub.publish("canvases", "canvas.created", fields)
                return
            if self._versions.get(name) is None:
                self._versions[name] = ""  # never seen before: whatever is on disk now is news
            if await self._seen(name, entry.state) and entry.document is not None:
                await self._reapply(name, path, entry)


def _mark(state: FileState) -> str:
    """What a claim names: the version and the file that holds it (an editor writing back the bytes of
    an earlier version makes another file, which is news though its version is not)."""
    identity = state.identity
    return f"{state.version}@{identity.inode}:{identity.mtime_ns}:{identity.size}"


def _lost_to_save(name: str, exc: RpcError) -> RpcError:
    """CONFLICT for an edit whose target an editor's save removed while the edit was being written."""
    return conflict(
        f"canvas {name!r} was saved by another program during the edit, and the edit no longer applies: {exc.message}",
        name=name,
        **exc.data,
    )


def _misses(document: Document, edit: _ServerEdit) -> bool:
    """Whether `document` holds none of `edit`: every node and edge it touched is as it was before it."""
    for op in edit.ops:
        kind, _, action = op["op"].partition(".")
        item = op.get(kind)
        ident = item["id"] if item is not None else op["id"]
        now = document.node(ident) if kind == "node" else document.edge(ident)
        if action == "added":
            if now is not None:
                return False
        else:
            before = edit.base.node(ident) if kind == "node" else edit.base.edge(ident)
            if now is None or now != before:
                return False
    return True
