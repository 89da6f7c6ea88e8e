"""The domain of canvas-live: the pub/sub hub, canvases, agents, background tasks, workflows.

Imports `protocol` only; never the server or Starlette.
"""
