"""OpenRPC 1.3 document for `rpc.discover`, generated from the registry's msgspec types.

Nothing is described twice: the params and result schemas come from the same types that decode
and encode the wire.
"""

from __future__ import annotations

from typing import Any

import msgspec

from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.registry import Registry

_REF = "#/components/schemas/{name}"


def build_openrpc(registry: Registry[Any], title: str, version: str) -> dict[str, Any]:
    """Describe every registered method: params by name (either structure accepted), result, errors."""
    methods = sorted(registry.methods.values(), key=lambda method: method.name)
    types: list[Any] = []
    for method in methods:
        types.append(method.params if method.params is not None else None)
        types.append(method.result)
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    described = []
    for index, method in enumerate(methods):
        params: list[dict[str, Any]] = []
        if method.params is not None:
            # Resolve through the reference: msgspec qualifies names that two modules share.
            struct_schema = components[schemas[2 * index]["$ref"].rsplit("/", 1)[1]]
            required = set(struct_schema.get("required", ()))
            for name, schema in struct_schema.get("properties", {}).items():
                params.append({"name": name, "schema": schema, "required": name in required})
        entry: dict[str, Any] = {
            "name": method.name,
            "summary": method.summary,
            "paramStructure": "either",
            "params": params,
            "result": {"name": "result", "schema": schemas[2 * index + 1]},
        }
        if method.websocket_only:
            entry["x-websocket-only"] = True
        described.append(entry)
    return {
        "openrpc": "1.3.2",
        "info": {"title": title, "version": version},
        "methods": described,
        "components": {
            "schemas": components,
            "errors": {code.name: {"code": int(code), "message": code.name} for code in ErrorCode},
        },
    }
