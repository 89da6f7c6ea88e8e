"""The Starlette application of canvas-live: WebSocket endpoint, HTTP routes, method bindings, CLI."""
