"""Canvas files in a vault: names to paths that never leave it, atomic writes, backups, versions.

Everything here blocks (it is plain file I/O) and is meant to run in `asyncio.to_thread`, except
`normalise_name`, which only looks at the string, so a caller can take a per-canvas lock before any
I/O happens.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import hashlib
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import BinaryIO, NamedTuple

from canvas_live.protocol.errors import ErrorCode, RpcError, not_found
from canvas_live.services.canvas.format import CanvasFormatError, parse
from canvas_live.services.canvas.palette import PALETTES, Palette, recolour

log = logging.getLogger("canvas_live.canvases")

SUFFIX = ".canvas"
STATE_DIR = ".canvas-live"
MAX_NAME = 1024
MAX_PART = 255
"""Bytes of one file or folder name, `.canvas` included: what Linux, macOS and Windows file systems take."""


def forbidden(name: str, reason: str) -> RpcError:
    """-32004: a name that would leave the vault or does not name a `.canvas` file."""
    return RpcError(ErrorCode.FORBIDDEN_PATH, f"{reason}: {name!r}", name=name)


def normalise_name(name: str, *, folder: bool = False) -> str:
    """Check a vault-relative name without touching the disk; a canvas name loses a trailing `.canvas`.

    Refused: NUL, backslashes, absolute paths, empty, `.` and `..` components, and hidden components
    (`.obsidian`, `.canvas-live`): the server never reads or writes there on a client's behalf.
    """
    if "\x00" in name:
        raise forbidden(name, "a name may not contain NUL")
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in name):
        raise forbidden(name.encode("unicode_escape").decode(), "a name may not contain control characters")
    if len(name) > MAX_NAME:
        raise forbidden(name[:64] + "…", f"a name may hold at most {MAX_NAME} characters")
    if "\\" in name:
        raise forbidden(name, "use / between folders, not \\")
    if name.startswith("/"):
        raise forbidden(name, "an absolute path leaves the vault; give a name relative to it")
    if folder and name in ("", "."):
        return ""
    if not folder and name.endswith(SUFFIX):
        name = name[: -len(SUFFIX)]
    for part in name.split("/"):
        if part in ("", ".", ".."):
            raise forbidden(name, "a name may not have empty, '.' or '..' parts")
        if part.startswith("."):
            raise forbidden(name, "hidden files and folders are not canvases")
        if len(part.encode()) + len(SUFFIX) > MAX_PART:
            raise forbidden(name[:64] + "…", f"each part of a name may hold at most {MAX_PART} bytes (UTF-8)")
    return name


class Identity(NamedTuple):
    """What `os.stat` says of one version of a file: it changes when the file is replaced or rewritten.

    Not enough on its own: a rewrite of the same size within one tick of the file system's clock
    keeps it, which is why `FileState.trusted` also asks how long ago the file was last written.
    """

    device: int
    inode: int
    size: int
    mtime_ns: int


def identity(info: os.stat_result) -> Identity:
    """The identity of a file as `os.stat` sees it."""
    return Identity(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def content_version(data: bytes) -> str:
    """A short content hash of the file bytes: the `version` clients see and pass as `if_version`."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


_COARSE = 5 if sys.platform == "linux" else None
"""Linux's CLOCK_REALTIME_COARSE (which `time` does not name): the clock file times are stamped with."""

RACY_NS = 50_000_000
"""Where file times do not come from a clock this process can read, a file written less than this
long ago is compared by its bytes rather than trusted by its identity."""


def file_clock() -> int:
    """Now, on the clock the kernel stamps file times with (Linux: the coarse real-time clock)."""
    if _COARSE is not None:
        return time.clock_gettime_ns(_COARSE)
    return time.time_ns() - RACY_NS


def _settled_time(mtime_ns: int, checked_ns: int) -> bool:
    """Whether a file with this mtime, looked at when `file_clock()` said `checked_ns`, cannot be
    rewritten without its mtime changing.

    On Linux a write gets the coarse clock's current tick as its mtime (or, on file systems with
    multigrain timestamps, a fine-grained time distinct from any that was looked at), so only a
    file stamped with the very tick in which it was looked at can be rewritten, same size, same
    mtime; such a file is compared by its bytes instead, as git does with "racily clean" entries.
    Elsewhere a file is trusted only once it is `RACY_NS` old, and so is a file whose time is
    rounded (to 100 ns or coarser: exFAT, NTFS, SMB), since its file system does not stamp with this
    clock; a time of whole seconds marks a file system that keeps only seconds (FAT, HFS+, small
    ext4 inodes), where any write within the next two seconds may keep it.
    """
    if mtime_ns % 1_000_000_000 == 0:
        return mtime_ns + 2_000_000_000 < checked_ns
    if _COARSE is None or mtime_ns % 100 == 0:
        return mtime_ns + RACY_NS < checked_ns
    return mtime_ns != checked_ns


@dataclass(frozen=True, slots=True)
class FileState:
    """One version of a file on disk, and when its bytes were last seen to be that version."""

    identity: Identity
    modified: float
    version: str
    checked_ns: int
    """`file_clock()` just before the identity was taken, the bytes being known to be this version."""

    def trusted(self, now: Identity) -> bool:
        """Whether a file whose identity is now `now` certainly still holds this version's bytes."""
        return now == self.identity and _settled_time(self.identity.mtime_ns, self.checked_ns)


class NotACanvasFile(OSError):
    """The path exists but is not a canvas the server may read: not a regular file, or hard-linked."""

    def __init__(self, path: object, reason: str = "not a .canvas file") -> None:
        super().__init__(reason, str(path))
        self.reason = reason


def read_file(path: Path, known: FileState | None = None) -> tuple[FileState, bytes | None]:
    """The file's state and bytes; the bytes are None when they are certainly still `known`'s.

    Opened without blocking, so a FIFO or device named `*.canvas` is refused instead of hanging. A
    file with more than one link is refused too: a hard link made inside the vault to a file outside
    it cannot be told from the inside, and the server never makes one (its backups are moved files).
    """
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
        if os.fstat(handle.fileno()).st_nlink > 1:
            raise NotACanvasFile(path, "a hard-linked file may be a file outside the vault: not served")
        return read_handle(handle, known)


def read_handle(handle: BinaryIO, known: FileState | None = None) -> tuple[FileState, bytes | None]:
    """`read_file` on an open file: the clock is read before `fstat`, so a later write is never missed."""
    checked = file_clock()
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        raise NotACanvasFile(handle.name)
    now = identity(info)
    if known is not None and known.trusted(now):
        return known, None
    handle.seek(0)
    data = handle.read()
    version = content_version(data)
    if known is not None and known.version == version and known.identity == now:
        return FileState(now, info.st_mtime, version, checked), None
    return FileState(now, info.st_mtime, version, checked), data


def _fsync_quietly(directory: Path) -> None:
    """`_fsync_dir` once the change is made: it cannot be undone, so a failure is logged, not raised."""
    try:
        _fsync_dir(directory)
    except OSError as exc:
        log.warning("could not make a rename in %s durable: %s", directory, exc)


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`); False where unsupported.

    Both must exist: a canvas deleted meanwhile is `FileNotFoundError`, never re-created.
    """
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # the file system (or the kernel) cannot exchange
    raise OSError(code, os.strerror(code), str(second))


class Displaced(Exception):
    """The file was not the version an edit was computed from when the edit came to replace it.

    What was there is back in place, untouched; the edit is to be computed again on top of it.
    """


@dataclass(frozen=True, slots=True)
class Swapped:
    """A successful replacement: the new file's state, and the replaced version's file (now unnamed in the vault)."""

    state: FileState
    replaced: Path | None


def _link_new(temporary: Path, path: Path) -> None:
    """Give the written file its name only if that name is free (a hard link never overwrites)."""
    try:
        os.link(temporary, path)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            raise FileExistsError(path) from None
        # A file system without hard links: check, then rename (the per-canvas lock covers us).
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(temporary, path)


class Vault:
    """The folder of canvases: where a name leads, the backups, and the listing."""

    def __init__(self, root: Path, backups: int = 3) -> None:
        self.root = root.resolve()
        self.keep = backups
        self.backup_dir = self.root / STATE_DIR / "backups"
        self.temp_dir = self.root / STATE_DIR / "tmp"

    def locate(self, name: str) -> tuple[str, Path]:
        """The canonical name and real path of a normalised canvas name, or FORBIDDEN_PATH.

        Symlinks are followed, and the file they lead to must be a `.canvas` file inside the vault;
        the canonical name is that file's name, so every alias shares one lock, cache and topic.
        """
        link = self.root / (name + SUFFIX)
        if not os.path.lexists(link) and (self.root / name).is_file():
            raise forbidden(name, "not a .canvas file")
        try:
            real = link.resolve()
        except (OSError, RuntimeError):
            raise forbidden(name, "the name leads through a symlink loop") from None
        if not real.is_relative_to(self.root):
            raise forbidden(name, "the name leads out of the vault")
        if real.suffix != SUFFIX or (real.exists() and not real.is_file()):
            raise forbidden(name, "not a .canvas file")
        canonical = real.relative_to(self.root).as_posix()[: -len(SUFFIX)]
        if any(part.startswith(".") for part in canonical.split("/")):
            raise forbidden(name, "the name leads into a hidden folder")
        return canonical, real

    def relative(self, path: Path) -> str | None:
        """A path's name relative to the vault, or None when it is outside or hidden."""
        try:
            relative = path.relative_to(self.root).as_posix()
        except ValueError:
            return None
        if relative == "." or any(part.startswith(".") for part in relative.split("/")):
            return None
        return relative

    def name_of(self, path: Path) -> str | None:
        """The canvas name of a path the watcher reports, or None for anything that is not one."""
        relative = self.relative(path)
        if relative is None or not relative.endswith(SUFFIX):
            return None
        return relative[: -len(SUFFIX)]

    def walk(self, folder: str) -> Iterator[tuple[str, Path]]:
        """Every canvas under a folder: (canonical name, real path), hidden folders and escapes skipped."""
        base = (self.root / folder).resolve() if folder else self.root
        if not base.is_relative_to(self.root):
            raise forbidden(folder, "the folder leads out of the vault")
        if not base.is_dir():
            raise not_found("folder", folder)
        seen: set[str] = set()
        for directory, folders, files in os.walk(base):
            folders[:] = sorted(entry for entry in folders if not entry.startswith("."))
            relative = Path(directory).relative_to(self.root).as_posix()
            for entry in sorted(files):
                if entry.startswith(".") or not entry.endswith(SUFFIX):
                    continue
                name = entry[: -len(SUFFIX)] if relative == "." else f"{relative}/{entry[: -len(SUFFIX)]}"
                try:
                    canonical, real = self.locate(name)
                except RpcError:
                    continue
                if canonical not in seen and real.exists():
                    seen.add(canonical)
                    yield canonical, real

    # -- writing ------------------------------------------------------------------------------

    def temporary(self, directory: Path) -> Path:
        """A fresh temporary path on the file system of `directory`, where Obsidian never shows it.

        Temporary files live in `<vault>/.canvas-live/tmp/` (named by process id, so `sweep` can
        tell a dead process's leftovers from a live one's), or, for a folder on another file system
        than the vault (a rename cannot cross it), hidden beside the canvas.
        """
        name = f"{os.getpid()}-{secrets.token_hex(6)}{TEMP_SUFFIX}"
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        if os.stat(directory).st_dev == os.stat(self.temp_dir).st_dev:
            return self.temp_dir / name
        return directory / f".canvas-live-{name}"

    def _write_temporary(self, directory: Path, data: bytes, mode_of: Path | None) -> tuple[Path, FileState]:
        """Write `data` to a new fsynced temporary file; its state comes from its own handle."""
        temporary = self.temporary(directory)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if mode_of is not None:
                    with contextlib.suppress(FileNotFoundError):
                        os.fchmod(handle.fileno(), stat.S_IMODE(os.stat(mode_of).st_mode))
                os.fsync(handle.fileno())
                checked = file_clock()  # nobody else writes a private temporary file: its bytes are `data`
                info = os.fstat(handle.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return temporary, FileState(identity(info), info.st_mtime, content_version(data), checked)

    def write_new(self, path: Path, data: bytes) -> FileState:
        """Create `path` holding `data`, whole or not at all; an existing file is never replaced (`FileExistsError`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary, state = self._write_temporary(path.parent, data, None)
        try:
            _link_new(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        _fsync_quietly(path.parent)
        return state

    def swap_in(self, path: Path, data: bytes, base: FileState) -> Swapped:
        """Replace `path` with `data` if, at the instant of the replacement, it still holds `base`.

        The new file is written and fsynced aside, then exchanged with the canvas in one atomic
        step, so the file displaced is exactly what was on disk at that instant, even one an editor
        is still writing into. If it is not `base` (an editor saved meanwhile), it is exchanged back
        at once and `Displaced` is raised: nothing of that save is lost, and the edit is computed
        again on top of it. Where the file system cannot exchange, `_replace_checked` does the same
        with a short window left (docs/canvases.md).
        """
        temporary, state = self._write_temporary(path.parent, data, path)
        try:
            if not exchange(temporary, path):
                return self._replace_checked(path, temporary, state, base)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        # From here the temporary path holds what was displaced, maybe an editor's save: it is never
        # deleted unless it is known to be the server's own file.
        try:
            landed = _holds(temporary, base)
        except BaseException:
            self._put_back(path, temporary, state)
            raise
        if landed:
            _fsync_quietly(path.parent)
            return Swapped(state, temporary)
        self._put_back(path, temporary, state)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise Displaced(path)

    def _put_back(self, path: Path, temporary: Path, ours: FileState) -> None:
        """Undo an exchange that displaced someone else's save; keep any version that was not ours.

        Our file was in place for microseconds: if anything wrote into it or renamed over it in that
        time, that is the newest save, and it goes back in place too (the older one is kept as a
        backup rather than dropped).
        """
        try:
            exchange(temporary, path)
        except FileNotFoundError:  # our file was deleted while in place: the displaced one comes back
            try:
                _link_new(temporary, path)  # never over a save that was renamed there meanwhile
            except FileExistsError:
                self.keep_backup(self.name_of(path) or path.stem, temporary)
            _fsync_quietly(path.parent)
            return
        if not _holds(temporary, ours):  # written into or renamed over while it was in place
            exchange(temporary, path)
            name = self.name_of(path)
            self.keep_backup(name if name is not None else path.stem, temporary)
        _fsync_quietly(path.parent)

    def _replace_checked(self, path: Path, temporary: Path, state: FileState, base: FileState) -> Swapped:
        """Check, then replace, where no exchange is possible; the displaced inode is held and re-checked.

        The old file is hard-linked aside before the rename, so an editor still writing into it is
        seen afterwards; only a rename over the canvas in the instant between the last check and
        the replace goes unseen, and that editor's save is lost.
        """
        aside: Path | None = self.temporary(path.parent)
        assert aside is not None
        try:
            os.link(path, aside)
        except FileNotFoundError:
            raise
        except OSError:
            aside = None  # no hard links here: a plain check
        replaced = False
        try:
            if not _holds(aside or path, base):
                raise Displaced(path)
            if aside is not None and os.stat(path).st_ino != os.stat(aside).st_ino:
                raise Displaced(path)  # renamed over while it was being compared
            os.replace(temporary, path)
            replaced = True
            if aside is not None and not _holds(aside, base):
                os.replace(aside, path)  # an editor wrote into the old file meanwhile: its save wins
                aside = None
                raise Displaced(path)
        except BaseException:
            if aside is not None:
                if replaced:  # the old file, perhaps with an editor's bytes in it, goes back in place
                    with contextlib.suppress(OSError):
                        os.replace(aside, path)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(aside)
            raise
        _fsync_quietly(path.parent)
        return Swapped(state, aside)

    def keep_backup(self, name: str, replaced: Path | None) -> None:
        """Make a replaced version backup 1 of `name`, shifting older ones up to `keep`; only after success.

        The replaced file is its own inode, no longer the canvas, so the backup shares nothing with
        the live file; it is moved, not copied.
        """
        if replaced is None:
            return
        if self.keep <= 0:
            replaced.unlink(missing_ok=True)
            return
        stem = self.backup_dir / name
        stem.parent.mkdir(parents=True, exist_ok=True)
        slots = [stem.parent / f"{stem.name}.{number}{SUFFIX}" for number in range(1, self.keep + 1)]
        for newer, older in zip(reversed(slots[:-1]), reversed(slots[1:]), strict=True):
            if newer.exists():
                os.replace(newer, older)
        shutil.move(replaced, slots[0])

    def sweep(self) -> int:
        """Clear away the temporary files of processes that no longer run (a crash mid-write); how many.

        Most are a write that never took the canvas's place, and are removed. But a kill in the
        instant after an exchange that displaced an editor's save leaves that save here: a leftover
        that is a whole canvas is therefore moved to `<vault>/.canvas-live/recovered/`, never
        deleted. One with another name too (a kill between a new canvas's link and the unlink) is
        that canvas, and is only unlinked. Also the hidden `.<name>.canvas.<hex>.tmp` files earlier
        versions left beside canvases.
        """
        candidates: list[Path] = []
        if self.temp_dir.is_dir():
            candidates.extend(self.temp_dir.iterdir())
        for directory, folders, files in os.walk(self.root):
            folders[:] = [entry for entry in folders if not entry.startswith(".")]
            candidates.extend(Path(directory) / entry for entry in files if _LEFTOVER.fullmatch(entry))
        removed = 0
        for candidate in candidates:
            match = _OWNER.search(candidate.name)
            if match is not None and match["pid"] and _alive(int(match["pid"])):
                continue
            with contextlib.suppress(FileNotFoundError):
                if os.stat(candidate).st_nlink == 1 and _whole_canvas(candidate):
                    recovered = self.root / STATE_DIR / "recovered"
                    recovered.mkdir(parents=True, exist_ok=True)
                    os.replace(candidate, recovered / f"{int(time.time())}-{candidate.name}{SUFFIX}")
                    log.warning("kept a canvas a crash left mid-write as %s", recovered)
                else:
                    candidate.unlink()
                removed += 1
        return removed


def _whole_canvas(path: Path) -> bool:
    """Whether a file holds a complete, non-empty canvas (what an editor saves), not a partial write."""
    try:
        data = path.read_bytes()
        return bool(data.strip()) and bool(parse(data).nodes)
    except (OSError, CanvasFormatError):
        return False


TEMP_SUFFIX = ".tmp"
_OWNER = re.compile(r"(?:^|canvas-live-)(?P<pid>\d+)-[0-9a-f]+\.tmp$")
_LEFTOVER = re.compile(r"\.(?:canvas-live-\d+-[0-9a-f]+|.+\.canvas\.[0-9a-f]{8})\.tmp")


def _alive(pid: int) -> bool:
    """Whether a process with this id runs now; this one's own files are never swept."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holds(path: Path, base: FileState) -> bool:
    """Whether the file at `path` is the version `base`: same identity and trusted, or the same bytes."""
    with open(path, "rb") as handle:
        _state, data = read_handle(handle, base)
    return data is None


def _recoloured(data: bytes, palette: Palette) -> bytes:
    """A demo canvas (in the `obsidian` convention) with its learning colours in `palette`'s."""
    source = PALETTES["obsidian"]
    if palette is source:
        return data
    swap = {code: recolour(code, source, palette) for code in source.codes.values()}
    return _COLOR.sub(lambda match: b'"color":"%s"' % (swap.get(match[1].decode()) or match[1].decode()).encode(), data)


_COLOR = re.compile(rb'"color":"([1-6])"')


def seed_demo(vault: Vault, palette: Palette) -> list[str]:
    """Copy the sample learning canvases into a vault that holds nothing but hidden entries.

    They are kept in the `obsidian` convention and written in `palette`'s, so the demo shows what
    the server will write.
    """
    root = vault.root
    root.mkdir(parents=True, exist_ok=True)
    if any(not entry.name.startswith(".") for entry in os.scandir(root)):
        return []
    seeded = []
    for item in sorted(
        (resources.files("canvas_live.services.canvas") / "demo_vault").iterdir(), key=lambda item: item.name
    ):
        if item.name.endswith(SUFFIX):
            vault.write_new(root / item.name, _recoloured(item.read_bytes(), palette))
            seeded.append(item.name[: -len(SUFFIX)])
    return seeded
