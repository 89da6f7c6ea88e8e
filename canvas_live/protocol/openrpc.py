"""OpenRPC 1.3 document for `rpc.discover`, generated from the registry's msgspec types.

Nothing is described twice: the params and result schemas come from the same types that decode
and encode the wire, a param's description from its field's `msgspec.Meta`, a method's errors
from what it declares when it is registered. The events the server pushes are described the same
way, from their params types, under the `x-events` extension (OpenRPC has no place for
server-to-client notifications).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.registry import Method, Registry

OPENRPC_VERSION = "1.3.2"
_REF = "#/components/schemas/{name}"
_ERROR_REF = "#/components/errors/{name}"


@dataclass(frozen=True, slots=True)
class Event:
    """A notification the server pushes: its method name, the topics it goes out on, its params type."""

    name: str
    topics: tuple[str, ...]
    """Topic patterns (`task:<id>`); none for a notification sent to every connection unasked."""
    params: type[msgspec.Struct]
    summary: str


def error_objects() -> dict[str, dict[str, Any]]:
    """Every contract error as an OpenRPC error object; `data.error` is the name every error carries."""
    return {code.name: {"code": int(code), "message": code.meaning, "data": {"error": code.name}} for code in ErrorCode}


def method_errors(method: Method[Any], common: Iterable[ErrorCode]) -> list[dict[str, str]]:
    """References to the errors a method can answer: its own, the dispatcher's, and the transport's `common`."""
    codes = {*method.errors, *common, ErrorCode.INVALID_PARAMS}  # even a method without params refuses some
    if method.websocket_only:
        codes.add(ErrorCode.UNAVAILABLE)  # over HTTP
    return [{"$ref": _ERROR_REF.format(name=code.name)} for code in ErrorCode if code in codes]


def _params(struct_schema: dict[str, Any]) -> list[dict[str, Any]]:
    """A params Struct's fields as content descriptors, each field's description lifted out of its schema."""
    required = set(struct_schema.get("required", ()))
    params = []
    for name, field_schema in struct_schema.get("properties", {}).items():
        schema = dict(field_schema)
        descriptor: dict[str, Any] = {"name": name}
        description = schema.pop("description", None)
        if description is not None:
            descriptor["description"] = description
        descriptor.update(schema=schema, required=name in required)
        params.append(descriptor)
    return params


def build_openrpc(
    registry: Registry[Any],
    title: str,
    version: str,
    *,
    events: Sequence[Event] = (),
    common_errors: Iterable[ErrorCode] = (),
) -> dict[str, Any]:
    """Describe every registered method (params by name, either structure accepted) and every event.

    `common_errors` are those the transport may answer for any method (e.g. a connection's
    in-flight limit); the caller adds `servers`, which depend on where the document is asked for.
    """
    common = tuple(common_errors)
    methods = sorted(registry.methods.values(), key=lambda method: method.name)
    types: list[Any] = []
    for method in methods:
        types.append(method.params if method.params is not None else None)
        types.append(method.result)
    types.extend(event.params for event in events)
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)

    def resolved(reference: dict[str, Any]) -> dict[str, Any]:
        # Through the reference: msgspec qualifies names that two modules share.
        component: dict[str, Any] = components[reference["$ref"].rsplit("/", 1)[1]]
        return component

    described = []
    for index, method in enumerate(methods):
        entry: dict[str, Any] = {
            "name": method.name,
            "summary": method.summary,
            "paramStructure": "either",
            "params": [] if method.params is None else _params(resolved(schemas[2 * index])),
            "result": {"name": "result", "schema": schemas[2 * index + 1]},
            "errors": method_errors(method, common),
        }
        if method.websocket_only:
            entry["x-websocket-only"] = True
        described.append(entry)
    offset = 2 * len(methods)
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {"title": title, "version": version},
        "methods": described,
        "components": {"schemas": components, "errors": error_objects()},
        "x-events": [
            {
                "name": event.name,
                "summary": event.summary,
                "topics": list(event.topics),
                "params": schemas[offset + index],
            }
            for index, event in enumerate(events)
        ],
    }
