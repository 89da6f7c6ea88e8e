"""JSON-RPC 2.0 message types and the parsing of one incoming frame (single call or batch).

Parsing decodes straight into `Request` with msgspec; `params` stays raw JSON so that the method's
own params type decodes it later in one pass. Only a frame that fails that fast path is decoded a
second time, generically, to tell a parse error (-32700) from an invalid request (-32600) and to
recover the request's `id` where the object has a usable one.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from canvas_live.protocol.errors import ErrorCode, ErrorObject, RpcError

Id = int | float | str | None
"""A request id: echoed back exactly as the client sent it."""


class Request(msgspec.Struct):
    """One request or notification (a notification has no `id` member at all)."""

    jsonrpc: Literal["2.0"]
    method: str
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    id: Id | msgspec.UnsetType = msgspec.UNSET

    @property
    def is_notification(self) -> bool:
        """A request without an `id` gets no response, whatever happens."""
        return self.id is msgspec.UNSET


class Success(msgspec.Struct):
    """A successful response."""

    jsonrpc: str
    result: Any
    id: Id


class Failure(msgspec.Struct):
    """An error response; `id` is null when the request's id could not be determined."""

    jsonrpc: str
    error: ErrorObject
    id: Id


class Notification(msgspec.Struct):
    """A server-to-client notification: events and `server.hello`."""

    jsonrpc: str
    method: str
    params: Any


_encoder = msgspec.json.Encoder()
_request_decoder = msgspec.json.Decoder(Request)
_batch_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_any_decoder = msgspec.json.Decoder()

encode = _encoder.encode
"""The project's one JSON encoder: compact UTF-8, non-ASCII kept as is."""


def encode_success(result: Any, request_id: Id) -> bytes:
    """Encode a successful response."""
    return _encoder.encode(Success("2.0", result, request_id))


def encode_failure(error: RpcError, request_id: Id = None) -> bytes:
    """Encode an error response."""
    return _encoder.encode(Failure("2.0", error.to_object(), request_id))


def encode_notification(method: str, params: Any) -> bytes:
    """Encode a notification frame."""
    return _encoder.encode(Notification("2.0", method, params))


Parsed = Request | RpcError
"""One batch element after parsing: a request to run, or the error to answer it with."""


class Batch(msgspec.Struct):
    """A batch frame: its elements in order, each parsed independently."""

    items: list[Parsed]


def parse_frame(data: bytes | str, max_batch: int) -> Parsed | Batch:
    """Parse one WebSocket frame or HTTP body into a request, a batch, or an error to send.

    An error is answered with the id `request_id_of` gives: null unless the invalid object had
    a usable one. JSON nested deeper than the decoder goes (about a thousand levels) is an invalid
    request, answered like any other: the connection goes on.
    """
    if not isinstance(data, str):
        try:
            data.decode()  # the decoder skips unknown keys without checking them: JSON is UTF-8 throughout
        except UnicodeDecodeError:
            return RpcError(ErrorCode.PARSE_ERROR, "parse error: the frame is not valid UTF-8")
    try:
        return _parse_frame(data, max_batch)
    except RecursionError:
        return too_deep()


def too_deep() -> RpcError:
    """-32600 for JSON nested deeper than the decoder goes."""
    return RpcError(ErrorCode.INVALID_REQUEST, "invalid request: the JSON is nested too deeply")


def _parse_frame(data: bytes | str, max_batch: int) -> Parsed | Batch:
    try:
        return _checked(_request_decoder.decode(data))
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    if data.lstrip()[:1] in (b"[", "["):
        try:
            raws = _batch_decoder.decode(data)
        except msgspec.DecodeError:
            return RpcError(ErrorCode.PARSE_ERROR, "parse error: the frame is not valid JSON")
        if not raws:
            return RpcError(ErrorCode.INVALID_REQUEST, "invalid request: empty batch")
        if len(raws) > max_batch:
            return RpcError(
                ErrorCode.INVALID_REQUEST,
                f"invalid request: a batch holds at most {max_batch} calls, got {len(raws)}",
                limit=max_batch,
            )
        return Batch([_parse_one(raw) for raw in raws])
    return _parse_one(data)


def _parse_one(data: bytes | str | msgspec.Raw) -> Parsed:
    try:
        return _checked(_request_decoder.decode(data))
    except msgspec.ValidationError as exc:
        return _invalid(data, str(exc))
    except msgspec.DecodeError:
        return RpcError(ErrorCode.PARSE_ERROR, "parse error: the frame is not valid JSON")


def _checked(request: Request) -> Request:
    params = request.params
    if params is not msgspec.UNSET and bytes(params)[:1] not in (b"[", b"{"):
        raise msgspec.ValidationError("`params` must be an array or an object")
    return request


class _Invalid(RpcError):
    """An invalid request object whose `id` could still be read."""

    def __init__(self, message: str, request_id: Id) -> None:
        super().__init__(ErrorCode.INVALID_REQUEST, message)
        self.request_id = request_id


def _invalid(data: bytes | str | msgspec.Raw, reason: str) -> RpcError:
    try:
        obj = _any_decoder.decode(data)
    except msgspec.DecodeError:
        return RpcError(ErrorCode.PARSE_ERROR, "parse error: the frame is not valid JSON")
    request_id: Id = None
    if isinstance(obj, dict):
        candidate = obj.get("id")
        if isinstance(candidate, (int, float, str)) and not isinstance(candidate, bool):
            request_id = candidate
    return _Invalid(f"invalid request: {reason}", request_id)


def request_id_of(error: RpcError) -> Id:
    """The id to answer a parse-time error with (null unless the invalid object had one)."""
    return error.request_id if isinstance(error, _Invalid) else None
