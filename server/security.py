"""Handshake and API guards (DESIGN §11): the shared token and the browser Origin check.

A WebSocket is exempt from the browser's same-origin policy, so any page a learner visits could
open `ws://127.0.0.1:8765/ws` and drive their vault (cross-site WebSocket hijacking). Browsers
always send `Origin` on a WebSocket handshake; tools like websocat and scripts send none. So: no
Origin is allowed, a browser Origin must be ours, Obsidian's, or explicitly allowed.
"""

from __future__ import annotations

import hmac

from starlette.requests import HTTPConnection

from server.settings import Settings

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
