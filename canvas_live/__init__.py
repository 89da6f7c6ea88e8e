"""canvas-live: the real-time backend for AI-assisted learning on Obsidian canvases.

One import package in three layers, imports pointing one way only: `canvas_live.server` (the
Starlette app, the wire) uses `canvas_live.services` (the domain), which uses
`canvas_live.protocol` (JSON-RPC 2.0 and the error table); `canvas_live.web` holds the dashboard's
static files. See docs/architecture.md.
"""

NAME = "canvas-live"
__version__ = "0.2.0"
