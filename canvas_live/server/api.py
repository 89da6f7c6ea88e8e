"""The HTTP API's route table, and the OpenAPI 3.1 document generated from it (`GET /api/v1/openapi.json`).

Each `Operation` is one route: its verb and path, its handler, and the msgspec types the handler
decodes and encodes. `app.py` makes its routes from `OPERATIONS` and `build_openapi` describes the
same table, so no route is served undescribed. A route that answers as a JSON-RPC method does
(`mirrors`) answers that method's declared errors, each with the HTTP status of its code.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from canvas_live import NAME, __version__
from canvas_live.protocol.errors import ErrorCode
from canvas_live.protocol.jsonrpc import Failure, Success
from canvas_live.protocol.jsonrpc import Request as RpcRequest
from canvas_live.protocol.registry import Registry
from canvas_live.server import http
from canvas_live.server.methods.learn import Scheduled
from canvas_live.server.methods.tasks import TaskId, TaskListParams
from canvas_live.server.runtime import Runtime
from canvas_live.services.tasks import TaskInfo, TaskPage
from canvas_live.services.workflows import ReviewParams

OPENAPI_VERSION = "3.1.0"
_REF = "#/components/schemas/{name}"
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")

PATH_PARAMETERS: dict[str, Any] = {"task_id": TaskId}
"""The type of each path parameter, by name."""

REFUSALS = {401: ["UNAUTHORIZED"], 403: ["FORBIDDEN_ORIGIN"]}
"""What `security.refusal` answers on every route: a token missing or wrong, a browser Origin not allowed."""


@dataclass(frozen=True, slots=True)
class Batchable:
    """A JSON-RPC body: one of `kinds`, or a non-empty array of them (a batch)."""

    kinds: tuple[type[msgspec.Struct], ...]


@dataclass(frozen=True, slots=True)
class Operation:
    """One route of the HTTP API and the types that describe it."""

    method: str
    path: str
    endpoint: Callable[[Request], Awaitable[Response]]
    summary: str
    answer: Any
    """The type of the success body (`str` for text)."""
    status: int = 200
    media_type: str = http.JSON
    body: Any = None
    """The type the JSON body is decoded as, or `Batchable` for JSON-RPC; a body over the size limit is 413."""
    query: type[msgspec.Struct] | None = None
    mirrors: str | None = None
    """The JSON-RPC method the route answers as, whose declared errors it answers."""
    errors: tuple[ErrorCode, ...] = ()
    """Errors the route answers itself, beyond those of the method it mirrors."""
    empty: str | None = None
    """When the route may answer 204, with no body: why."""

    def route(self) -> Route:
        """The Starlette route."""
        return Route(self.path, self.endpoint, methods=[self.method])

    def error_names(self, registry: Registry[Any]) -> dict[int, list[str]]:
        """The name of every error the route can answer, by HTTP status."""
        codes = set(self.errors)
        if self.mirrors is not None:
            codes.update(registry.methods[self.mirrors].errors)
        if self.query is not None:
            codes.add(ErrorCode.INVALID_PARAMS)
        if self.body is not None and not isinstance(self.body, Batchable):
            codes.update((ErrorCode.PARSE_ERROR, ErrorCode.INVALID_PARAMS))
        names = {status: list(refused) for status, refused in REFUSALS.items()}
        for code in ErrorCode:
            if code in codes:
                names.setdefault(http.HTTP_STATUS[code], []).append(code.name)
        if self.body is not None:
            names[413] = ["TOO_LARGE"]
        names[500] = [ErrorCode.INTERNAL_ERROR.name]
        return dict(sorted(names.items()))


@http.api
async def openapi(request: Request, runtime: Runtime) -> Response:
    """`GET /api/v1/openapi.json`: this API's OpenAPI document; `servers` names the host it was asked at."""
    if runtime.openapi is None:
        runtime.openapi = build_openapi(OPERATIONS, runtime.registry, token=runtime.settings.token is not None)
    return http.json_response({**runtime.openapi, "servers": [{"url": str(request.base_url).rstrip("/")}]})


OPERATIONS = (
    Operation("POST", "/rpc", http.rpc,
              "JSON-RPC 2.0 over HTTP: the WebSocket's methods (`rpc.discover`), subscriptions excepted.",
              Batchable((Success, Failure)), body=Batchable((RpcRequest,)),
              empty="Only notifications were sent: nothing to answer."),
    Operation("GET", "/api/v1/health", http.health, "Liveness and live counters, from memory only.", http.Health),
    Operation("GET", "/api/v1/ready", http.ready,
              "Readiness: 503 while starting, shutting down, or unable to record tasks.", http.Readiness,
              errors=(ErrorCode.UNAVAILABLE,)),
    Operation("GET", "/metrics", http.metrics, "Prometheus metrics, in the text exposition format.", str,
              media_type="text/plain"),
    Operation("GET", "/api/v1/tasks", http.tasks_list, "Tasks, newest first, as `task.list`.", TaskPage,
              query=TaskListParams, mirrors="task.list"),
    Operation("GET", "/api/v1/tasks/{task_id}", http.task_get, "One task, as `task.get`.", TaskInfo,
              mirrors="task.get"),
    Operation("POST", "/api/v1/tasks/{task_id}/cancel", http.task_cancel,
              "Cancel a pending or running task, as `task.cancel`.", TaskInfo, mirrors="task.cancel"),
    Operation("POST", "/api/v1/review/generate", http.review_generate,
              "Schedule a review canvas, as `review.generate` (`canvas_name` is taken for `canvas`); 202 at once.",
              Scheduled, status=202, body=ReviewParams, mirrors="review.generate"),
    Operation("GET", "/api/v1/openapi.json", openapi, "This document.", dict[str, Any]),
)  # fmt: skip
"""Every route of the HTTP API (the WebSocket and the dashboard's files are routed in `app.py`)."""


def build_openapi(operations: Sequence[Operation], registry: Registry[Any], *, token: bool) -> dict[str, Any]:
    """Describe `operations`; with `token` the server requires the token, else presenting it is optional."""
    types: list[Any] = [http.HttpError]
    for operation in operations:
        for kind in (operation.answer, operation.body, operation.query):
            types.extend(kind.kinds if isinstance(kind, Batchable) else [kind] if kind is not None else [])
    types.extend(PATH_PARAMETERS.values())
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)

    def schema(kind: Any) -> dict[str, Any]:
        """The schema of a type: a `Batchable` is one of its kinds or a non-empty array of them."""
        if not isinstance(kind, Batchable):
            return dict(schemas[types.index(kind)])
        one = [schema(each) for each in kind.kinds]
        single = one[0] if len(one) == 1 else {"anyOf": one}
        return {"anyOf": [single, {"type": "array", "items": single, "minItems": 1}]}

    def parameter(name: str, where: str, field_schema: dict[str, Any], required: bool) -> dict[str, Any]:
        field_schema = dict(field_schema)
        described = {"name": name, "in": where, "required": required}
        description = field_schema.pop("description", None)
        if description is not None:
            described["description"] = description
        return {**described, "schema": field_schema}

    error = {"content": {http.JSON: {"schema": schema(http.HttpError)}}}
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        parameters = [
            parameter(name, "path", schema(PATH_PARAMETERS[name]), True)
            for name in _PATH_PARAMETER.findall(operation.path)
        ]
        if operation.query is not None:
            query = components[schema(operation.query)["$ref"].rsplit("/", 1)[1]]
            required = set(query.get("required", ()))
            parameters += [
                parameter(name, "query", field, name in required) for name, field in query["properties"].items()
            ]
        responses: dict[str, Any] = {
            str(operation.status): {
                "description": HTTPStatus(operation.status).phrase,
                "content": {operation.media_type: {"schema": schema(operation.answer)}},
            }
        }
        if operation.empty is not None:
            responses["204"] = {"description": operation.empty}
        for status, names in operation.error_names(registry).items():
            responses[str(status)] = {"description": " or ".join(names), **error}
        described: dict[str, Any] = {
            "operationId": operation.endpoint.__name__,
            "summary": operation.summary,
            "responses": responses,
        }
        if parameters:
            described["parameters"] = parameters
        if operation.body is not None:
            described["requestBody"] = {"required": True, "content": {http.JSON: {"schema": schema(operation.body)}}}
        paths.setdefault(operation.path, {})[operation.method.lower()] = described
    security: list[dict[str, list[str]]] = [{"bearer": []}, {"token": []}]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": NAME,
            "version": __version__,
            "description": "The HTTP API of canvas-live; its JSON-RPC methods are described by `rpc.discover`.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "The server's `--token`."},
                "token": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "The same token in the URL, for clients that cannot set headers.",
                },
            },
        },
        "security": security if token else [*security, {}],
    }
