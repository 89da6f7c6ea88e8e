"""The disk saying no: full, read-only, no permission. Such a refusal is the STORAGE error, never a bug.

Canvas writes and the task store both go through `disk_refusals`, so a client sees the same named
error (`data.errno` such as `ENOSPC`, `data.reason` in the system's words) whichever of them the
disk refused, and -32603 stays for real bugs.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from canvas_live.protocol.errors import ErrorCode, RpcError

STORAGE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG})
"""Errors that say the disk refused the write, not that the server has a bug."""

_SQLITE = {3: errno.EACCES, 8: errno.EROFS, 10: errno.EIO, 13: errno.ENOSPC, 14: errno.EACCES}
"""SQLite's primary result codes PERM, READONLY, IOERR, FULL and CANTOPEN as the errno they stand for."""


def storage_error(code: int, what: str) -> RpcError:
    """-32011 STORAGE for errno `code`: `data.errno` is its symbolic name, `data.reason` the system's words."""
    reason = os.strerror(code)
    return RpcError(
        ErrorCode.STORAGE,
        f"{what}: {reason}; nothing was changed",
        errno=errno.errorcode.get(code, str(code)),
        reason=reason,
    )


@contextmanager
def disk_refusals(what: str, folder: Path | None = None) -> Iterator[None]:
    """Raise STORAGE for the disk's refusals inside the block (OS or SQLite); other errors pass unchanged.

    SQLite reports a failed write on a full disk as an I/O error; with the `folder` its files are
    in, a disk with no room left is named for what it is (ENOSPC).
    """
    try:
        yield
    except OSError as exc:
        if exc.errno in STORAGE_ERRORS:
            raise storage_error(exc.errno, what) from None
        raise
    except sqlite3.Error as exc:
        code = _SQLITE.get(getattr(exc, "sqlite_errorcode", 0) & 0xFF)
        if code is None:
            raise
        if code == errno.EIO and folder is not None and _full(folder):
            code = errno.ENOSPC
        raise storage_error(code, what) from None


def _full(folder: Path) -> bool:
    try:
        return os.statvfs(folder).f_bavail == 0
    except OSError:
        return False
