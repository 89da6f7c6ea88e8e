"""`GET /api/v1/openapi.json`: a valid OpenAPI 3.1 document of every HTTP route, true to what they answer."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from canvas_live import NAME, __version__
from canvas_live.server.dashboard import dashboard_routes
from tests.support.schemas import misfits
from tests.support.server import LiveServer

TOKEN = "openapi-test-token"
RED = "1"  # the default (Obsidian) palette's red


@pytest.fixture
def guarded(make_server: Callable[..., LiveServer]) -> LiveServer:
    """A server that requires a token."""
    return make_server(token=TOKEN)


@pytest.fixture
async def api(guarded: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the guarded server that presents the token."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=guarded.base_url, headers=headers, timeout=10) as session:
        yield session


async def fetch(api: httpx.AsyncClient) -> dict[str, Any]:
    reply = await api.get("/api/v1/openapi.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    document: dict[str, Any] = reply.json()
    return document


def described(document: dict[str, Any], reply: httpx.Response, path: str) -> None:
    """Assert that the reply's status is one `path`'s operation lists, and its body fits that status's schema."""
    method = reply.request.method.lower()
    responses = document["paths"][path][method]["responses"]
    status = str(reply.status_code)
    assert status in responses, f"{method} {path} answered {status}, which it does not describe"
    content = responses[status].get("content")
    if content is None:
        assert reply.content == b""
        return
    (media_type,) = content
    assert reply.headers["content-type"].startswith(media_type)
    body = reply.text if media_type.startswith("text/") else reply.json()
    at = ["paths", path, method, "responses", status, "content", media_type, "schema"]
    assert misfits(document, at, body) == [], (path, status, body)


async def test_the_document_is_valid_and_describes_every_route(guarded: LiveServer, api: httpx.AsyncClient) -> None:
    document = await fetch(api)
    validate(document)  # raises when the document is not valid OpenAPI
    assert document["openapi"].startswith("3.1.")
    assert (document["info"]["title"], document["info"]["version"]) == (NAME, __version__)
    assert document["servers"] == [{"url": guarded.base_url}]
    page = {route.path for route in dashboard_routes()}
    served = {
        (route.path, method.lower())
        for route in guarded.app.routes
        if isinstance(route, Route) and route.path not in page
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert {(path, method) for path, item in document["paths"].items() for method in item} == served
    assert ("/api/v1/openapi.json", "get") in served


async def test_parameters_security_and_errors_are_described(api: httpx.AsyncClient) -> None:
    document = await fetch(api)
    tasks = document["paths"]["/api/v1/tasks"]["get"]
    query = {parameter["name"]: parameter for parameter in tasks["parameters"]}
    assert set(query) == {"status", "kind", "canvas", "limit", "before"}
    assert all(parameter["in"] == "query" and parameter["description"] for parameter in query.values())
    assert query["limit"]["schema"]["maximum"] == 500
    (task_id,) = document["paths"]["/api/v1/tasks/{task_id}"]["get"]["parameters"]
    assert (task_id["name"], task_id["in"], task_id["required"]) == ("task_id", "path", True)
    review = document["paths"]["/api/v1/review/generate"]["post"]
    assert review["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ReviewParams"
    }
    assert review["responses"]["403"]["description"] == "FORBIDDEN_ORIGIN or FORBIDDEN_PATH"
    assert {"400", "401", "404", "409", "413", "422", "503", "507"} <= set(review["responses"])
    cancel = document["paths"]["/api/v1/tasks/{task_id}/cancel"]["post"]["responses"]
    assert cancel["409"]["description"] == "CONFLICT" and "400" not in cancel
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "description": schemes["bearer"]["description"]}
    assert (schemes["token"]["in"], schemes["token"]["name"]) == ("query", "token")
    assert document["security"] == [{"bearer": []}, {"token": []}], "the token is required on this server"


async def test_a_server_without_a_token_describes_it_as_optional(http: httpx.AsyncClient) -> None:
    document = (await http.get("/api/v1/openapi.json")).json()
    assert {} in document["security"]


async def test_the_document_is_built_once_and_guarded_like_the_api(guarded: LiveServer, api: httpx.AsyncClient) -> None:
    await fetch(api)
    built = guarded.runtime.openapi
    assert built is not None
    document = await fetch(api)
    assert guarded.runtime.openapi is built
    async with httpx.AsyncClient(base_url=guarded.base_url) as anonymous:
        refused = await anonymous.get("/api/v1/openapi.json")
        assert (refused.status_code, refused.json()["error"]) == (401, "UNAUTHORIZED")
        described(document, refused, "/api/v1/openapi.json")
        in_url = await anonymous.get(f"/api/v1/openapi.json?token={TOKEN}")
        assert in_url.status_code == 200
    foreign = await api.get("/api/v1/openapi.json", headers={"Origin": "https://elsewhere.example"})
    assert (foreign.status_code, foreign.json()["error"]) == (403, "FORBIDDEN_ORIGIN")
    described(document, foreign, "/api/v1/openapi.json")


async def test_what_the_routes_answer_is_what_the_document_says(api: httpx.AsyncClient) -> None:
    document = await fetch(api)
    described(document, await api.get("/api/v1/openapi.json"), "/api/v1/openapi.json")
    described(document, await api.get("/api/v1/health"), "/api/v1/health")
    described(document, await api.get("/api/v1/ready"), "/api/v1/ready")
    described(document, await api.get("/metrics"), "/metrics")

    def call(method: str, params: Any = None, **extra: Any) -> dict[str, Any]:
        return {"jsonrpc": "2.0", "method": method, "params": params or {}, **extra}

    created = await api.post(
        "/rpc",
        json=call(
            "canvas.create", {"name": "lesson", "nodes": [{"type": "text", "text": "Entropy", "color": RED}]}, id=1
        ),
    )
    assert "result" in created.json()
    described(document, created, "/rpc")
    described(document, await api.post("/rpc", json=[call("ping", id=1), call("nope", id=2)]), "/rpc")
    described(document, await api.post("/rpc", json=call("ping")), "/rpc")  # a notification: 204

    accepted = await api.post("/api/v1/review/generate", json={"canvas_name": "lesson"})
    assert accepted.status_code == 202
    described(document, accepted, "/api/v1/review/generate")
    task_id = accepted.json()["task_id"]
    waited = await api.post("/rpc", json=call("task.wait", {"id": task_id, "timeout": 20}, id=3))
    assert waited.json()["result"]["status"] == "completed"
    described(document, await api.get(f"/api/v1/tasks/{task_id}"), "/api/v1/tasks/{task_id}")
    finished = await api.post(f"/api/v1/tasks/{task_id}/cancel")
    assert finished.status_code == 409
    described(document, finished, "/api/v1/tasks/{task_id}/cancel")
    described(document, await api.get("/api/v1/tasks", params={"limit": 1}), "/api/v1/tasks")

    for path, reply in [
        ("/api/v1/tasks", await api.get("/api/v1/tasks", params={"limit": 0})),
        ("/api/v1/tasks/{task_id}", await api.get("/api/v1/tasks/no-such-task")),
        ("/api/v1/tasks/{task_id}/cancel", await api.post("/api/v1/tasks/no-such-task/cancel")),
        ("/api/v1/review/generate", await api.post("/api/v1/review/generate", content=b"{canvas")),
        ("/api/v1/review/generate", await api.post("/api/v1/review/generate", json={"canvas": "missing"})),
        ("/api/v1/review/generate", await api.post("/api/v1/review/generate", json={"canvas": "../out"})),
        (
            "/api/v1/review/generate",
            await api.post("/api/v1/review/generate", json={"canvas": "x", "pad": "x" * 2**20}),
        ),
    ]:
        assert reply.status_code >= 400
        described(document, reply, path)
        # The description names the error the route answered.
        method = reply.request.method.lower()
        words = document["paths"][path][method]["responses"][str(reply.status_code)]["description"]
        assert reply.json()["error"] in re.split(r" or ", words)
