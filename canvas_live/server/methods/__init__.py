"""Every JSON-RPC method's binding, one module per area, assembled into one registry here.

Bindings stay thin: the registry decodes params from the types declared beside each binding, the
binding calls a service and shapes the result. Domain logic lives in `services/`.
"""

from __future__ import annotations

from canvas_live.protocol.registry import Registry
from canvas_live.server.methods import agents, canvas, core, learn, tasks
from canvas_live.server.runtime import Context


def build_registry(max_batch: int = 100) -> Registry[Context]:
    """The registry with every method of the server bound."""
    registry: Registry[Context] = Registry(max_batch)
    for area in (core, canvas, agents, tasks, learn):
        area.register(registry)
    return registry
