"""The error table of the wire contract (docs/protocol.md, "Errors") and the exception that carries it.

Every error that reaches a client is an `RpcError`: a code from `ErrorCode`, a stable UPPER_SNAKE
name (sent as `data.error`, so a client can branch on a name instead of a number), a message meant
for people, and optional details merged into `data`.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any, TypeVar

import msgspec


class ErrorCode(IntEnum):
    """JSON-RPC 2.0 reserved codes and canvas-live's codes in the server range."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    NOT_FOUND = -32001
    CONFLICT = -32002
    INVALID_CANVAS = -32003
    FORBIDDEN_PATH = -32004
    AGENT_FAILED = -32005
    CIRCUIT_OPEN = -32006
    OVERLOADED = -32007
    TIMEOUT = -32008
    CANCELLED = -32009
    UNAVAILABLE = -32010
    STORAGE = -32011
    BUSY = -32012

    @property
    def meaning(self) -> str:
        """What the code says, in one sentence (the `message` of its OpenRPC error object)."""
        return _MEANINGS[self]


_MEANINGS = {
    ErrorCode.PARSE_ERROR: "The frame or body is not valid JSON.",
    ErrorCode.INVALID_REQUEST: "Not a request object, an empty or oversized batch, or JSON nested too deeply.",
    ErrorCode.METHOD_NOT_FOUND: "No method of that name (`data.method`).",
    ErrorCode.INVALID_PARAMS: "The params do not fit the method; `data.field` names the member.",
    ErrorCode.INTERNAL_ERROR: "A bug: logged on the server, never detailed on the wire.",
    ErrorCode.NOT_FOUND: "No canvas, node, edge, task, agent or folder of that name or id (`data.kind`, `data.id`).",
    ErrorCode.CONFLICT: "A stale `if_version` (`data.version`), a name or id taken, or the cancel of a finished task.",
    ErrorCode.INVALID_CANVAS: "The file is not valid JSON Canvas, or a node of an unknown type was to be edited.",
    ErrorCode.FORBIDDEN_PATH: "A name that leaves the vault or is not a `.canvas` file.",
    ErrorCode.AGENT_FAILED: "The agent call failed after its retries (`data.category`, `data.attempts`).",
    ErrorCode.CIRCUIT_OPEN: "The agent backend's circuit breaker is open (`data.retry_at`).",
    ErrorCode.OVERLOADED: "Too many requests in flight on the connection, or agent calls queued (`data.retry_after`).",
    ErrorCode.TIMEOUT: "The call exceeded its time limit.",
    ErrorCode.CANCELLED: "The work was cancelled.",
    ErrorCode.UNAVAILABLE: "A WebSocket-only method over HTTP, a backend not configured, or a server shutting down.",
    ErrorCode.STORAGE: "The disk refused a write (`data.errno`, `data.reason`); nothing was changed.",
    ErrorCode.BUSY: "Another program is saving the canvas; nothing was changed, try again (`data.retry_after`).",
}


class ErrorObject(msgspec.Struct, omit_defaults=True):
    """The JSON-RPC `error` member as it goes on the wire."""

    code: int
    message: str
    data: dict[str, Any] | None = None


class ErrorInfo(msgspec.Struct, omit_defaults=True):
    """An error recorded in a result (a failed agent call, a failed task) rather than raised."""

    code: int
    error: str
    message: str
    category: str | None = None
    data: dict[str, Any] | None = None


class RpcError(Exception):
    """An error with a contract code; raised anywhere below a method binding, sent as is."""

    def __init__(self, code: ErrorCode, message: str, **data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @property
    def name(self) -> str:
        """The stable UPPER_SNAKE name of the code, e.g. `NOT_FOUND`."""
        return self.code.name

    def to_object(self) -> ErrorObject:
        """The wire form: the name always travels in `data.error` beside the details."""
        return ErrorObject(int(self.code), self.message, {"error": self.name, **self.data})

    def to_info(self, category: str | None = None) -> ErrorInfo:
        """The recorded form used inside task and agent results."""
        return ErrorInfo(int(self.code), self.name, self.message, category, self.data or None)


def not_found(kind: str, ident: str) -> RpcError:
    """`NOT_FOUND` for an unknown canvas, node, edge, task or agent."""
    return RpcError(ErrorCode.NOT_FOUND, f"{kind} {ident!r} not found", kind=kind, id=ident)


def invalid_params(message: str, field: str | None = None) -> RpcError:
    """-32602 naming the offending field, so a client can point at it."""
    if field is None:
        return RpcError(ErrorCode.INVALID_PARAMS, message)
    return RpcError(ErrorCode.INVALID_PARAMS, message, field=field)


_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_NAMED = re.compile(r"field `(?P<field>[^`]+)`")

T = TypeVar("T")


def misfit(exc: msgspec.ValidationError, context: str = "invalid params", prefix: str = "") -> RpcError:
    """-32602 for a value msgspec refused: `data.field` names the member (under `prefix`), the message says why.

    msgspec writes `Expected int, got str - at $.nodes[0].x`, or names a missing field in the
    message itself; either way the client gets the path to point at.
    """
    message = str(exc)
    at = _AT.search(message)
    if at:
        where = at["path"]
        message = message[: at.start()]
    else:
        named = _NAMED.search(message)
        where = named["field"] if named else ""
    field = ".".join(part for part in (prefix, where) if part) or None
    return invalid_params(f"{context}{f' (at {field})' if field else ''}: {message}", field)


def convert_params(value: Any, kind: type[T], context: str = "invalid params", prefix: str = "") -> T:
    """`value` as the type `kind`, or the -32602 of `misfit`."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise misfit(exc, context, prefix) from None
