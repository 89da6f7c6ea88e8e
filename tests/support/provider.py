"""A fake model provider on loopback, scripted per test (OpenAI's and Anthropic's wire formats): the
faults a real engine shows rarely or never on demand (HTTP errors, hangs, malformed envelopes).
What a real model answers is tested against a real engine (tests/support/engine.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from typing import Any

import msgspec
import uvicorn


@dataclasses.dataclass
class Reply:
    """One scripted answer of the fake model provider.

    `delay` holds the whole answer back; `chunk_delay` comes before each chunk of a streamed one,
    so that it streams as slowly as a model on a CPU.
    """

    status: int = 200
    content: str = ""
    body: Any = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def slow_score(chunk_delay: float = 0.05) -> Reply:
    """A rubric score of 85 streamed as a model on a CPU streams it: about 110 chunks of four
    characters, `chunk_delay` apart (five seconds at the default)."""
    score = {
        "total_score": 85,
        "breakdown": {"accuracy": 22, "imagery": 20, "completeness": 21, "originality": 22},
        "pass": True,
        "feedback": "The idea is stated in your own words and used correctly. " * 4,
        "color_action": "change_to_green",
    }
    return Reply(content=msgspec.json.encode(score).decode(), chunk_delay=chunk_delay)


class FakeProvider:
    """A model provider on loopback speaking OpenAI's and Anthropic's wire formats, scripted per test.

    A bare ASGI app under uvicorn in a thread. `script` answers requests in order; once it is
    empty `default` answers every request. Each request is recorded (path, headers, JSON body).
    """

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.default = Reply()
        self.requests: list[dict[str, Any]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        config = uvicorn.Config(
            self.app, interface="asgi3", lifespan="off", log_level="critical", timeout_graceful_shutdown=0.2
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        self.requests.append({"path": scope["path"], "headers": headers, "json": msgspec.json.decode(body)})
        reply = self.script.pop(0) if self.script else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        request = self.requests[-1]["json"]
        if request.get("stream") and reply.status < 400 and reply.body is None:
            await self.stream(send, reply.content, reply.chunk_delay)
            return
        payload = reply.body if reply.body is not None else self.envelope(scope["path"], reply)
        extra = [(name.encode(), value.encode()) for name, value in reply.headers.items()]
        await send(
            {
                "type": "http.response.start",
                "status": reply.status,
                "headers": [(b"content-type", b"application/json"), *extra],
            }
        )
        await send({"type": "http.response.body", "body": msgspec.json.encode(payload)})

    @staticmethod
    async def stream(send: Any, content: str, chunk_delay: float) -> None:
        """Answer as OpenAI-compatible servers stream: a chunk of a few characters at a time, each a
        server-sent event (`chunk_delay` after the one before), then the finish reason and `[DONE]`."""
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        pieces = [content[start : start + 4] for start in range(0, len(content), 4)]
        chunks = [{"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]} for piece in pieces]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        for chunk in chunks:
            if chunk_delay:
                await asyncio.sleep(chunk_delay)
            await send(
                {
                    "type": "http.response.body",
                    "body": b"data: " + msgspec.json.encode(chunk) + b"\n\n",
                    "more_body": True,
                }
            )
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})

    @property
    def url(self) -> str:
        """The base URL a backend is configured with (`…/v1`)."""
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"

    @staticmethod
    def envelope(path: str, reply: Reply) -> Any:
        """The provider's response body for `reply`: an answer, or an error object."""
        if reply.status >= 400:
            return {"error": {"message": reply.content or f"status {reply.status}", "type": "error"}}
        if path.endswith("/messages"):
            return {"type": "message", "role": "assistant", "content": [{"type": "text", "text": reply.content}]}
        message = {"role": "assistant", "content": reply.content}
        return {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
