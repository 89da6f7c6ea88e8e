"""Canvas files in a vault: names to paths that never leave it, atomic writes, backups, versions.

Everything here blocks (it is plain file I/O) and is meant to run in `asyncio.to_thread`, except
`normalise_name`, which only looks at the string, so a caller can take a per-canvas lock before any
I/O happens.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from protocol.errors import ErrorCode, RpcError, not_found

SUFFIX = ".canvas"
STATE_DIR = ".canvas-live"
MAX_NAME = 1024


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
    return name


Identity = tuple[int, int, int, int]
"""(device, inode, size, mtime_ns): changes whenever the file is replaced or rewritten."""


def identity(info: os.stat_result) -> Identity:
    """The identity of a file as `os.stat` sees it."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def content_version(data: bytes) -> str:
    """A short content hash of the file bytes: the `version` clients see and pass as `if_version`."""
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class FileState:
    """One version of a file on disk."""

    identity: Identity
    modified: float
    version: str


class NotACanvasFile(OSError):
    """The path exists but is not a regular file (a folder, a FIFO, a device)."""


def read_file(path: Path, known: Identity | None = None) -> tuple[FileState | None, bytes]:
    """The file's bytes and state; `(None, b"")` when its identity is still `known` (nothing read).

    Opened without blocking, so a FIFO or device named `*.canvas` is refused instead of hanging.
    """
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise NotACanvasFile(path)
        if identity(info) == known:
            return None, b""
        data = handle.read()
    return FileState(identity(info), info.st_mtime, content_version(data)), data


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable: the directory entry must reach the disk too."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, exclusive: bool = False) -> FileState:
    """Write `data` so that `path` holds the old bytes or the new, never a mix, whatever dies when.

    The bytes go to a hidden temporary file beside `path` (same file system), are fsynced, and
    replace `path` in one rename. With `exclusive`, an existing file is never replaced
    (`FileExistsError`).
    """
    directory = path.parent
    temporary = directory / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            _link_new(temporary, path)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(temporary, stat.S_IMODE(os.stat(path).st_mode))
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_dir(directory)
    info = os.stat(path)
    return FileState(identity(info), info.st_mtime, content_version(data))


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

    def backup(self, name: str, path: Path) -> None:
        """Keep the version about to be replaced as backup 1, shifting older ones up to `keep`."""
        if self.keep <= 0 or not path.exists():
            return
        stem = self.backup_dir / name
        stem.parent.mkdir(parents=True, exist_ok=True)
        slots = [stem.parent / f"{stem.name}.{number}{SUFFIX}" for number in range(1, self.keep + 1)]
        for newer, older in zip(reversed(slots[:-1]), reversed(slots[1:]), strict=True):
            if newer.exists():
                os.replace(newer, older)
        slots[0].unlink(missing_ok=True)
        try:
            os.link(path, slots[0])  # the old inode lives on under the backup name: nothing copied
        except OSError:
            shutil.copy2(path, slots[0])


def seed_demo(root: Path) -> list[str]:
    """Copy the sample learning canvases into a vault that holds nothing but hidden entries."""
    root.mkdir(parents=True, exist_ok=True)
    if any(not entry.name.startswith(".") for entry in os.scandir(root)):
        return []
    seeded = []
    for item in sorted((resources.files("services") / "demo_vault").iterdir(), key=lambda item: item.name):
        if item.name.endswith(SUFFIX):
            write_atomic(root / item.name, item.read_bytes(), exclusive=True)
            seeded.append(item.name[: -len(SUFFIX)])
    return seeded
