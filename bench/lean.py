"""A lean load generator: raw asyncio protocols on uvloop, so the client is never the bottleneck.

The round-trip client uses the sans-I/O `websockets.ClientProtocol` (C-accelerated masking and
parsing); the fan-out receivers do the HTTP upgrade by hand and only walk frame headers, decoding
a payload only where a latency sample is wanted.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from websockets.client import ClientProtocol
from websockets.frames import Opcode
from websockets.uri import parse_uri

ROOT = Path(__file__).resolve().parents[1]
SERVER_CPU, CLIENT_CPU = 0, 1


def pin(cpu: int) -> None:
    """Pin this process to one core when the machine has two or more."""
    if (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_core() -> list[str]:
    """The command prefix that puts a server process on the servers' core, away from the client's."""
    return ["taskset", "-c", str(SERVER_CPU)] if (os.cpu_count() or 1) > 1 else []


def start_server(name: str, *settings: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start `bench.apps NAME` (with NAME=VALUE settings) on its own core and wait until it accepts connections."""
    port = free_port()
    command = [*server_core(), sys.executable, "-m", "bench.apps", name, str(port), *settings]
    process = subprocess.Popen(command, cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{name} did not start")


class RoundTripper(asyncio.Protocol):
    """Sends a frame, waits for the matching reply, repeats; counts completed round trips."""

    def __init__(self, url: str, frame: bytes, is_reply: Callable[[bytes], bool]) -> None:
        self.protocol = ClientProtocol(parse_uri(url))
        self.frame = frame
        self.is_reply = is_reply
        self.count = 0
        self.running = True
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)

    def send(self) -> None:
        """Send the next request frame."""
        self.protocol.send_text(self.frame)
        self._flush()

    def data_received(self, data: bytes) -> None:
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if not self.opened.done():
                self.opened.set_result(None)
                continue
            if getattr(event, "opcode", None) is Opcode.TEXT and self.is_reply(event.data):
                self.count += 1
                if self.running:
                    self.send()
        self._flush()


class FrameCounter(asyncio.Protocol):
    """Counts text frames from the server; decodes payloads only when `sample` is set."""

    def __init__(self, port: int, sample: Callable[[bytes], None] | None = None) -> None:
        self.port = port
        self.sample = sample
        self.frames = 0
        self.buffer = bytearray()
        self.upgraded = False
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        transport.write(request.encode())

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            del buffer[: end + 4]
            self.upgraded = True
            self.opened.set_result(None)
        position, size = 0, len(buffer)
        while position + 2 <= size:
            length = buffer[position + 1] & 0x7F
            header = 2
            if length == 126:
                if position + 4 > size:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if position + 10 > size:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            end = position + header + length
            if end > size:
                break
            opcode = buffer[position] & 0x0F
            if opcode == 1:
                self.frames += 1
                if self.sample is not None:
                    self.sample(bytes(buffer[position + header : end]))
            elif opcode == 9 and self.transport is not None:  # a keep-alive ping; unanswered, the socket closes
                self.transport.write(control_frame(0xA, bytes(buffer[position + header : end])))
            position = end
        del buffer[:position]


def control_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client control frame (a pong); control payloads are at most 125 bytes."""
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload


def text_frame(payload: bytes) -> bytes:
    """A masked client text frame (the all-zero mask leaves the payload as is, and is valid)."""
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    return b"\x81" + length + b"\x00\x00\x00\x00" + payload
