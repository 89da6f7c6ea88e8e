"""The Starlette application of canvas-live: WebSocket endpoint, HTTP routes, method bindings, CLI."""

NAME = "canvas-live"
__version__ = "0.1.0"
