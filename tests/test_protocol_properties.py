"""Property tests of the JSON-RPC layer: whatever a client sends, the answer is valid JSON-RPC 2.0.

Run in process against the protocol package alone (the transports add nothing to these rules),
so hypothesis can try thousands of frames in a second.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from canvas_live.protocol.registry import Registry


class Echo(msgspec.Struct, forbid_unknown_fields=True):
    """Params of the test method."""

    text: str
    times: int = 1


registry: Registry[None] = Registry(max_batch=10)


@registry.method("echo", params=Echo, result=str)
async def echo(params: Echo, ctx: None) -> str:
    """Repeat the text."""
    return params.text * params.times


@registry.method("ping", result=str)
async def ping(params: None, ctx: None) -> str:
    """Pong."""
    return "pong"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
ids = st.none() | st.integers() | st.text(max_size=6) | json_values
requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"]), "method": st.sampled_from(["echo", "ping", "nope"]) | ids},
    optional={"id": ids, "params": json_values | st.fixed_dictionaries({"text": json_values, "times": json_values})},
)
frames = requests | st.lists(requests | json_values, max_size=12) | json_values


def is_notification(item: Any) -> bool:
    """A well-formed request object without an id: the only thing the server leaves unanswered."""
    return (
        isinstance(item, dict)
        and "id" not in item
        and item.get("jsonrpc") == "2.0"
        and isinstance(item.get("method"), str)
        and isinstance(item.get("params", []), list | dict)
    )


def check_response(item: Any) -> None:
    assert isinstance(item, dict) and item["jsonrpc"] == "2.0" and "id" in item
    assert ("result" in item) != ("error" in item)
    if "error" in item:
        error = item["error"]
        assert isinstance(error["code"], int) and isinstance(error["message"], str)
        assert isinstance(error["data"]["error"], str)


@settings(max_examples=400, deadline=None)
@given(frames)
def test_every_frame_gets_a_valid_answer_or_none(frame: Any) -> None:
    data = msgspec.json.encode(frame)
    answer = asyncio.run(registry.handle_frame(data, None, websocket=True))
    if answer is None:
        # Only notifications go unanswered: a request object without an id, or a batch of them.
        items = frame if isinstance(frame, list) else [frame]
        assert items and all(is_notification(item) for item in items)
        return
    decoded = msgspec.json.decode(answer)
    if isinstance(decoded, list):
        assert isinstance(frame, list) and 0 < len(decoded) <= len(frame)
        for item in decoded:
            check_response(item)
    else:
        check_response(decoded)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    answer = asyncio.run(registry.handle_frame(data, None, websocket=True))
    if answer is None:  # only a notification (or a batch of them) goes unanswered: anything else is -32700 at least
        frame = msgspec.json.decode(data)
        items = frame if isinstance(frame, list) else [frame]
        assert items and all(is_notification(item) for item in items)
        return
    decoded = msgspec.json.decode(answer)
    for item in decoded if isinstance(decoded, list) else [decoded]:
        check_response(item)
