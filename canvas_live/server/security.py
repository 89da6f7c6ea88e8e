"""Handshake and API guards: the Host check, the shared token and the browser Origin check (docs/protocol.md).

A WebSocket is exempt from the browser's same-origin policy, so any page a learner visits could
open `ws://127.0.0.1:8765/ws` and drive their vault (cross-site WebSocket hijacking); and a page
can POST to `/rpc` without reading the answer. Browsers always send `Origin` on a WebSocket
handshake and on a POST; tools like websocat and scripts send none. So: no Origin is allowed, a
browser Origin must be ours, Obsidian's, or explicitly allowed, on `/ws` and on the HTTP API.

"Ours" is judged from the `Host` header, which a DNS-rebinding page controls (its own name,
resolved to 127.0.0.1). So a server bound to a loopback address answers only requests addressed
to a loopback name: `HostGuard` refuses everything else before any route runs.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from typing import NamedTuple

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from canvas_live.server.settings import Settings

BUILTIN_ORIGINS = frozenset({"app://obsidian.md", "capacitor://localhost"})
_HTTP_SCHEME = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def presented_token(connection: HTTPConnection) -> str | None:
    """The token from `Authorization: Bearer …`, else from `?token=` (browsers cannot set headers on /ws)."""
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return connection.query_params.get("token")


def token_ok(connection: HTTPConnection, settings: Settings) -> bool:
    """True when no token is configured or the presented one matches (constant-time compare)."""
    if settings.token is None:
        return True
    given = presented_token(connection)
    return given is not None and hmac.compare_digest(given.encode(), settings.token.encode())


def origin_ok(connection: HTTPConnection, settings: Settings) -> bool:
    """True for no Origin, our own origin, Obsidian's and Capacitor's, and `--allow-origin` values."""
    origin = connection.headers.get("origin")
    if origin is None:
        return True
    if origin in BUILTIN_ORIGINS or origin in settings.allow_origin:
        return True
    host = connection.headers.get("host")
    scheme = _HTTP_SCHEME.get(connection.url.scheme, "http")
    return host is not None and origin == f"{scheme}://{host}"


class Refusal(NamedTuple):
    """Why a request or handshake may not go on: the HTTP status and the error's name and words."""

    status: int
    error: str
    message: str


def refusal(connection: HTTPConnection, settings: Settings) -> Refusal | None:
    """The one guard of every entry point (`/ws` and the HTTP API): a foreign browser Origin, then the token."""
    if not origin_ok(connection, settings):
        return Refusal(403, "FORBIDDEN_ORIGIN", f"origin {connection.headers.get('origin', '')!r} is not allowed")
    if not token_ok(connection, settings):
        return Refusal(401, "UNAUTHORIZED", "a valid token is required (Authorization: Bearer <token> or ?token=)")
    return None


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses (`127.0.0.0/8`, `::1`), with or without brackets."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a `Host` header, without the port (`[::1]:8765` -> `::1`)."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class HostGuard:
    """ASGI middleware: a loopback-bound server serves only requests addressed to a loopback name."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.enforce = is_loopback(settings.host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.enforce and scope["type"] in ("http", "websocket"):
            host = Headers(scope=scope).get("host", "")
            if not is_loopback(host_name(host)):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
                else:
                    await PlainTextResponse(f"host {host!r} is not served here", 421)(scope, receive, send)
                return
        await self.app(scope, receive, send)


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"']*", re.IGNORECASE)


class MaskTokens(logging.Filter):
    """Mask `?token=` values in log lines: browsers (and client.js) put the token in the /ws URL,
    and uvicorn logs the URL of every request and handshake."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message with every token value replaced by `***`."""
        message = record.getMessage()
        masked = _TOKEN_IN_URL.sub(r"\1***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_tokens_in_logs() -> None:
    """Install `MaskTokens` on uvicorn's loggers (once)."""
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(existing, MaskTokens) for existing in logger.filters):
            logger.addFilter(MaskTokens())
