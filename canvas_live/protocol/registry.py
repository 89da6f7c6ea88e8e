"""The method registry and dispatcher: typed params in, typed result out.

Each method declares its params as a msgspec Struct (or none) and its result type; those types
decode and validate the params (by name or by position), shape the -32602 error, and generate the
OpenRPC document. Handlers are `async def handler(params, ctx)`; `ctx` is whatever the transport
passes (the registry is generic over it and never looks inside).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from canvas_live.protocol import logcontext
from canvas_live.protocol.errors import ErrorCode, RpcError, invalid_params, misfit
from canvas_live.protocol.jsonrpc import (
    Batch,
    Parsed,
    Request,
    encode_failure,
    encode_success,
    parse_frame,
    request_id_of,
    too_deep,
)

log = logging.getLogger("canvas_live.rpc")

Ctx = TypeVar("Ctx")
Handler = Callable[[Any, Ctx], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Method(Generic[Ctx]):
    """One registered method and the types that describe it."""

    name: str
    handler: Handler[Ctx]
    params: type[msgspec.Struct] | None
    result: Any
    summary: str
    websocket_only: bool = False
    inline: bool = False
    errors: tuple[ErrorCode, ...] = ()
    """The contract errors the method itself can answer (beyond the dispatcher's own, e.g. -32602)."""

    def decode_params(self, raw: msgspec.Raw | msgspec.UnsetType) -> Any:
        """Decode raw params by name or by position into the params type, or raise -32602."""
        if self.params is None:
            if raw is msgspec.UNSET or bytes(raw).strip() in (b"[]", b"{}"):
                return None
            raise invalid_params(f"{self.name} takes no params")
        try:
            if raw is msgspec.UNSET:
                return msgspec.convert({}, self.params)
            if bytes(raw)[:1] == b"[":
                return self._by_position(msgspec.json.decode(raw))
            return msgspec.json.decode(raw, type=self.params)
        except msgspec.ValidationError as exc:
            raise misfit(exc) from None
        except msgspec.DecodeError:  # e.g. invalid UTF-8 inside the params of a binary frame
            raise RpcError(ErrorCode.PARSE_ERROR, "parse error: the params are not valid JSON") from None
        except RecursionError:
            raise too_deep() from None

    def _by_position(self, values: list[Any]) -> Any:
        assert self.params is not None
        names = [field.encode_name for field in msgspec.structs.fields(self.params)]
        if len(values) > len(names):
            raise invalid_params(f"{self.name} takes at most {len(names)} positional params, got {len(values)}")
        return msgspec.convert(dict(zip(names, values, strict=False)), self.params)


def _refusal(item: Parsed, error: RpcError) -> bytes | None:
    if isinstance(item, RpcError):
        return encode_failure(item, request_id_of(item))
    return None if item.is_notification else encode_failure(error, item.id)  # type: ignore[arg-type]


def _join(answers: list[bytes | None]) -> bytes | None:
    """A batch's response array; nothing at all when every element was a notification."""
    present = [answer for answer in answers if answer is not None]
    return b"[" + b",".join(present) + b"]" if present else None


class Registry(Generic[Ctx]):
    """Methods by name, and the dispatch of parsed frames to them."""

    def __init__(self, max_batch: int = 100) -> None:
        self.methods: dict[str, Method[Ctx]] = {}
        self.max_batch = max_batch
        self.observe: Callable[[str, str, float], None] | None = None
        """Told of every answered request: its method, its outcome (`ok` or the error's name), seconds."""

    def method(
        self,
        name: str,
        *,
        params: type[msgspec.Struct] | None = None,
        result: Any = Any,
        websocket_only: bool = False,
        inline: bool = False,
        errors: tuple[ErrorCode, ...] = (),
    ) -> Callable[[Handler[Ctx]], Handler[Ctx]]:
        """Register `handler` under `name`; its docstring's first line becomes the summary.

        `inline` declares a handler that never waits on anything (no I/O, no sleep), so a
        transport may run it in place instead of spawning a task: the cheapest possible answer.
        `errors` declares the contract errors the handler can raise, for the OpenRPC document.
        """

        def register(handler: Handler[Ctx]) -> Handler[Ctx]:
            if name in self.methods:
                raise ValueError(f"method {name!r} registered twice")
            summary = (handler.__doc__ or "").strip().splitlines()[0] if handler.__doc__ else ""
            self.methods[name] = Method(name, handler, params, result, summary, websocket_only, inline, errors)
            return handler

        return register

    def parse(self, data: bytes | str) -> Parsed | Batch:
        """Parse one frame (batch size limited to `max_batch`)."""
        return parse_frame(data, self.max_batch)

    def answers_at_once(self, parsed: Parsed | Batch) -> bool:
        """True when answering `parsed` cannot wait on anything: an error, or one inline method."""
        if isinstance(parsed, RpcError):
            return True
        if isinstance(parsed, Batch):
            return False
        method = self.methods.get(parsed.method)
        return method is None or method.inline

    async def handle_frame(self, data: bytes | str, ctx: Ctx, *, websocket: bool) -> bytes | None:
        """Answer one frame: the encoded response (a single object or an array), or None."""
        return await self.answer(self.parse(data), ctx, websocket=websocket)

    async def answer(self, parsed: Parsed | Batch, ctx: Ctx, *, websocket: bool) -> bytes | None:
        """Answer a parsed frame; batch elements run concurrently."""
        if isinstance(parsed, Batch):
            return _join(await asyncio.gather(*(self._answer(item, ctx, websocket) for item in parsed.items)))
        return await self._answer(parsed, ctx, websocket)

    def refuse(self, parsed: Parsed | Batch, error: RpcError) -> bytes | None:
        """Answer every request of a frame with `error` without running any (e.g. when overloaded)."""
        items = parsed.items if isinstance(parsed, Batch) else [parsed]
        answers = [_refusal(item, error) for item in items]
        return _join(answers) if isinstance(parsed, Batch) else answers[0]

    async def _answer(self, parsed: Parsed, ctx: Ctx, websocket: bool) -> bytes | None:
        if isinstance(parsed, RpcError):
            if self.observe is not None:
                self.observe("", parsed.name, 0.0)
            return encode_failure(parsed, request_id_of(parsed))
        started = time.perf_counter()
        outcome = "ok"
        # An inline method never waits, so nothing it does outlives it: it needs no log context.
        known = self.methods.get(parsed.method)
        scoped = known is None or not known.inline
        if scoped:
            request_token = logcontext.request_id.set(logcontext.new_request_id())
            method_token = logcontext.method.set(parsed.method)
        try:
            result = await self.call(parsed, ctx, websocket=websocket)
        except RpcError as exc:
            outcome = exc.name
            return None if parsed.is_notification else encode_failure(exc, parsed.id)  # type: ignore[arg-type]
        except Exception:
            outcome = ErrorCode.INTERNAL_ERROR.name
            log.exception("method %s failed", parsed.method)
            if parsed.is_notification:
                return None
            return encode_failure(RpcError(ErrorCode.INTERNAL_ERROR, "internal error"), parsed.id)  # type: ignore[arg-type]
        finally:
            if scoped:
                logcontext.method.reset(method_token)
                logcontext.request_id.reset(request_token)
            if self.observe is not None:
                self.observe(parsed.method, outcome, time.perf_counter() - started)
        if parsed.is_notification:
            return None
        return encode_success(result, parsed.id)  # type: ignore[arg-type]

    async def call(self, request: Request, ctx: Ctx, *, websocket: bool) -> Any:
        """Run one request's method and return its result; errors are raised as `RpcError`."""
        method = self.methods.get(request.method)
        if method is None:
            raise RpcError(ErrorCode.METHOD_NOT_FOUND, f"method not found: {request.method}", method=request.method)
        if method.websocket_only and not websocket:
            raise RpcError(ErrorCode.UNAVAILABLE, f"{request.method} needs a WebSocket connection (GET /ws)")
        return await method.handler(method.decode_params(request.params), ctx)
