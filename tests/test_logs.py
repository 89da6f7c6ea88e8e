"""Log lines: one format for the whole process, uvicorn's included; JSON when asked; no secret."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from websockets.sync.client import connect

from tests.support.process import ROOT, free_port


def run_and_log(vault: Path, *flags: str) -> list[str]:
    """Start the server, make it do some work, stop it; the lines it wrote to standard error."""
    port = free_port()
    command = [sys.executable, "-m", "canvas_live", "serve", "--vault", str(vault), "--port", str(port), *flags]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v1/health?token=s3cret", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)
        with connect(f"ws://127.0.0.1:{port}/ws?token=s3cret") as ws:
            ws.recv()
            call = {"agent": "oral", "input": {"concept": "导数"}}
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "agent.batch", "params": {"calls": [call]}}))
            while '"id":1' not in (reply := ws.recv()):
                pass
            task_id = json.loads(reply)["result"]["task_id"]
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "task.wait", "params": {"id": task_id}}))
            while '"id":2' not in ws.recv():
                pass
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    return [line for line in errors.splitlines() if line.strip()]


def test_json_logs_are_one_object_per_line_with_their_context(vault: Path) -> None:
    lines = run_and_log(vault, "--log-format", "json", "--token", "s3cret")
    records = [json.loads(line) for line in lines]  # every line, uvicorn's too
    assert {"time", "level", "logger", "message"} <= set(records[0])
    loggers = {record["logger"] for record in records}
    assert "uvicorn.error" in loggers and "canvas_live.tasks" in loggers
    created = next(record for record in records if record["message"].endswith("(agent.batch) created"))
    assert created["method"] == "agent.batch" and created["request_id"] and created["peer"]
    finished = next(record for record in records if record["message"].endswith("completed"))
    assert finished["task_id"] in created["message"]
    assert "s3cret" not in "\n".join(lines)


def test_plain_logs_share_one_format(vault: Path) -> None:
    lines = run_and_log(vault, "--token", "s3cret")
    assert lines and all(line[:4].isdigit() and (" INFO " in line or " WARNING " in line) for line in lines)
    assert any("uvicorn.error" in line for line in lines)  # uvicorn's lines in the same format as ours
    assert any(" request_id=r" in line and "method=agent.batch" in line for line in lines)
    assert not any("s3cret" in line for line in lines)
