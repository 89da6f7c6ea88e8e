"""JSON-RPC 2.0 conformance through the real server: every rule of the specification, over /ws."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.support.client import Client, RpcError
from tests.support.server import LiveServer


def error_of(reply: dict[str, Any]) -> tuple[int, Any]:
    assert reply["jsonrpc"] == "2.0"
    assert "result" not in reply
    return reply["error"]["code"], reply["id"]


async def test_request_ids_are_echoed_exactly(client: Client) -> None:
    for request_id in ["abc", 7, 2.5, -1, "", "中文"]:
        frame = json.dumps({"jsonrpc": "2.0", "method": "ping", "id": request_id})
        assert await client.send_raw(frame) == {"jsonrpc": "2.0", "result": "pong", "id": request_id}


async def test_null_id_is_a_request_not_a_notification(client: Client) -> None:
    assert await client.send_raw('{"jsonrpc":"2.0","method":"ping","id":null}') == {
        "jsonrpc": "2.0",
        "result": "pong",
        "id": None,
    }


async def test_parse_error(client: Client) -> None:
    reply = await client.send_raw('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]')
    assert error_of(reply) == (-32700, None)
    assert reply["error"]["data"]["error"] == "PARSE_ERROR"


@pytest.mark.parametrize(
    "frame",
    [
        '{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
        '{"jsonrpc": "2.0", "params": {}}',
        '{"method": "ping", "id": 1}',
        '{"jsonrpc": "1.0", "method": "ping", "id": 1}',
        '{"jsonrpc": "2.0", "method": "ping", "params": 5, "id": 1}',
        '{"jsonrpc": "2.0", "method": "ping", "params": "x", "id": 1}',
        "1",
        '"ping"',
        "null",
    ],
)
async def test_invalid_request_objects(client: Client, frame: str) -> None:
    code, request_id = error_of(await client.send_raw(frame))
    assert code == -32600
    # The id is echoed when the object had a usable one, else null.
    expected = json.loads(frame).get("id") if frame.startswith("{") else None
    assert request_id == expected


async def test_invalid_id_types_answer_with_null_id(client: Client) -> None:
    for bad in ["{}", "[1]", "true"]:
        reply = await client.send_raw(f'{{"jsonrpc":"2.0","method":"ping","id":{bad}}}')
        assert error_of(reply) == (-32600, None)


async def test_unknown_method(client: Client) -> None:
    reply = await client.send_raw('{"jsonrpc":"2.0","method":"foobar","id":"1"}')
    assert error_of(reply) == (-32601, "1")
    assert reply["error"]["data"] == {"error": "METHOD_NOT_FOUND", "method": "foobar"}


async def test_params_by_name_and_by_position(client: Client) -> None:
    by_name = await client.call("subscribe", {"topics": ["tasks"]})
    by_position = await client.call("subscribe", [["canvases"]])
    assert by_name["subscribed"] == ["tasks"]
    assert by_position["subscribed"] == ["canvases"]


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("subscribe", {"topics": "tasks"}, "topics"),
        ("subscribe", {"topics": [1]}, "topics[0]"),
        ("subscribe", {}, "topics"),
        ("subscribe", {"topics": ["tasks"], "sinse": {}}, "sinse"),
        ("subscribe", {"topics": ["tasks"], "since": {"tasks": "x"}}, "since[...]"),
        ("subscribe", [["tasks"], None, None, "extra"], None),
        ("ping", {"unexpected": 1}, None),
        ("ping", [1], None),
    ],
)
async def test_wrong_params_name_the_field(client: Client, method: str, params: Any, field: str | None) -> None:
    with pytest.raises(RpcError) as caught:
        await client.call(method, params)
    assert caught.value.code == -32602
    assert caught.value.data["error"] == "INVALID_PARAMS"
    assert caught.value.data.get("field") == field
    if field:
        assert field in caught.value.message


async def test_empty_params_are_fine_for_methods_without_params(client: Client) -> None:
    for params in ([], {}):
        assert await client.call("ping", params) == "pong"


async def test_notifications_get_no_reply_even_when_they_fail(client: Client) -> None:
    await client.ws.send('{"jsonrpc":"2.0","method":"ping"}')
    await client.ws.send('{"jsonrpc":"2.0","method":"no.such.method"}')
    await client.ws.send('{"jsonrpc":"2.0","method":"subscribe","params":{"topics":[1]}}')
    await client.no_reply()
    assert await client.call("ping") == "pong"


async def test_empty_batch(client: Client) -> None:
    assert error_of(await client.send_raw("[]")) == (-32600, None)


async def test_batch_of_invalid_elements(client: Client) -> None:
    reply = await client.send_raw("[1,2,3]")
    assert isinstance(reply, list) and len(reply) == 3
    assert all(error_of(item) == (-32600, None) for item in reply)


async def test_batch_that_is_not_json(client: Client) -> None:
    frame = '[{"jsonrpc":"2.0","method":"ping","id":"1"},{"jsonrpc":"2.0","method"]'
    assert error_of(await client.send_raw(frame)) == (-32700, None)


async def test_mixed_batch_answers_each_request_once(client: Client) -> None:
    frame = json.dumps(
        [
            {"jsonrpc": "2.0", "method": "ping", "id": "1"},
            {"jsonrpc": "2.0", "method": "ping"},
            {"jsonrpc": "2.0", "method": "subscribe", "params": {"topics": [1]}, "id": "2"},
            {"foo": "boo"},
            {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
            {"jsonrpc": "2.0", "method": "server.info", "id": "9"},
        ]
    )
    reply = await client.send_raw(frame)
    by_id: dict[Any, list[dict[str, Any]]] = {}
    for item in reply:
        by_id.setdefault(item["id"], []).append(item)
    assert by_id["1"][0]["result"] == "pong"
    assert by_id["2"][0]["error"]["code"] == -32602
    assert by_id[None][0]["error"]["code"] == -32600
    assert by_id["5"][0]["error"]["code"] == -32601
    assert by_id["9"][0]["result"]["name"] == "canvas-live"
    assert len(reply) == 5


async def test_batch_of_notifications_answers_nothing(client: Client) -> None:
    await client.ws.send('[{"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"nope"}]')
    await client.no_reply()


async def test_huge_batch_is_refused_whole(client: Client) -> None:
    frame = json.dumps([{"jsonrpc": "2.0", "method": "ping", "id": i} for i in range(101)])
    reply = await client.send_raw(frame)
    assert error_of(reply) == (-32600, None)
    assert reply["error"]["data"]["limit"] == 100
    full = json.dumps([{"jsonrpc": "2.0", "method": "ping", "id": i} for i in range(100)])
    assert sorted(item["id"] for item in await client.send_raw(full)) == list(range(100))


async def test_binary_frames(client: Client) -> None:
    reply = await client.send_raw(b'{"jsonrpc":"2.0","method":"ping","id":3}')
    assert reply["result"] == "pong"
    garbage = await client.send_raw(b"\xff\xfe\x00garbage\x80")
    assert error_of(garbage) == (-32700, None)
    assert await client.call("ping") == "pong"


async def test_internal_errors_do_not_leak(live: LiveServer, client: Client) -> None:
    async def boom(params: None, ctx: object) -> None:
        raise RuntimeError("/secret/path/in/traceback")

    live.run(lambda: live.runtime.registry.method("test.boom")(boom))
    reply = await client.request("test.boom")
    assert reply["error"] == {"code": -32603, "message": "internal error", "data": {"error": "INTERNAL_ERROR"}}
    assert await client.call("ping") == "pong"


async def test_requests_run_concurrently(live: LiveServer, client: Client) -> None:
    async def slow(params: None, ctx: object) -> str:
        await asyncio.sleep(30)
        return "late"

    live.run(lambda: live.runtime.registry.method("test.slow")(slow))
    pending = asyncio.create_task(client.call("test.slow", timeout=60))
    # A slow call never blocks a ping on the same connection.
    assert await client.call("ping", timeout=2) == "pong"
    assert not pending.done()
    pending.cancel()


async def test_discover_describes_methods_from_their_types(client: Client) -> None:
    document = await client.call("rpc.discover")
    assert document["openrpc"].startswith("1.")
    methods = {method["name"]: method for method in document["methods"]}
    assert {"ping", "server.info", "rpc.discover", "subscribe", "unsubscribe"} <= set(methods)
    params = {param["name"]: param for param in methods["subscribe"]["params"]}
    assert params["topics"]["required"] is True
    assert params["topics"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert params["since"]["required"] is False
    result_ref = methods["server.info"]["result"]["schema"]["$ref"]
    assert result_ref.split("/")[-1] in document["components"]["schemas"]
    assert document["components"]["errors"]["NOT_FOUND"]["code"] == -32001
