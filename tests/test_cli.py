"""The `canvas-live` command: settings from flags and environment, and a graceful shutdown."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from canvas_live.server.settings import SettingError, Settings, add_arguments, load_settings


def parse(argv: list[str], environ: dict[str, str]) -> Settings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return load_settings(parser.parse_args(argv), environ)


def test_flags_beat_environment_beats_defaults() -> None:
    environ = {"CANVAS_LIVE_PORT": "9000", "CANVAS_LIVE_TOKEN": "t", "CANVAS_LIVE_DEMO": "yes"}
    settings = parse(["--port", "9100", "--allow-origin", "https://a", "--allow-origin", "https://b"], environ)
    assert settings.port == 9100
    assert settings.token == "t"
    assert settings.demo is True
    assert settings.allow_origin == ("https://a", "https://b")
    assert settings.host == "127.0.0.1"
    assert settings.state_dir == Path("vault/.canvas-live")
    environ = {"CANVAS_LIVE_ALLOW_ORIGIN": "https://x, https://y", "CANVAS_LIVE_SHUTDOWN_GRACE": "2.5"}
    settings = parse(["--vault", "/tmp/v", "--data-dir", "/tmp/d"], environ)
    assert settings.allow_origin == ("https://x", "https://y")
    assert settings.shutdown_grace == 2.5
    assert settings.state_dir == Path("/tmp/d")


def test_bad_values_from_any_source_name_the_setting() -> None:
    with pytest.raises(SettingError, match="CANVAS_LIVE_PALETTE must be one of obsidian, cls"):
        parse([], {"CANVAS_LIVE_PALETTE": "rainbow"})
    with pytest.raises(SettingError, match="--palette"):
        parse(["--palette", "rainbow"], {})
    with pytest.raises(SettingError, match="CANVAS_LIVE_DEMO: expects true or false"):
        parse([], {"CANVAS_LIVE_DEMO": "maybe"})


def test_a_config_file_sits_under_the_environment_and_the_flags(tmp_path: Path) -> None:
    config = tmp_path / "canvas-live.toml"
    config.write_text('max_inflight = 32\nmax-batch = 10\ndemo = true\nallow_origin = ["https://a"]\nport = 9000\n')
    settings = parse(["--config", str(config), "--no-demo", "--port", "9100"], {"CANVAS_LIVE_MAX_BATCH": "20"})
    assert (settings.max_inflight, settings.max_batch, settings.demo, settings.port) == (32, 20, False, 9100)
    assert settings.allow_origin == ("https://a",)
    for words, value in (("yes", True), ("0", False), ("On", True), ("false", False)):
        assert parse([], {"CANVAS_LIVE_DEMO": words}).demo is value
    config.write_text("max_inflight = 'many'\n")
    with pytest.raises(SettingError, match="max_inflight: expects a number"):
        parse(["--config", str(config)], {})


@pytest.mark.parametrize(
    ("argv", "environ", "words"),
    [
        (["serve"], {"CANVAS_LIVE_PORT": "abc"}, "CANVAS_LIVE_PORT: expects a number"),
        (["serve", "--max-inflight", "1.5"], {}, "--max-inflight: expects a number without a fraction"),
        (["serve", "--config", "/nonexistent.toml"], {}, "--config /nonexistent.toml"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_status_2(argv: list[str], environ: dict[str, str], words: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "canvas_live", *argv], env={**os.environ, **environ}, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and words in done.stderr and "Traceback" not in done.stderr


def test_config_prints_the_effective_settings_with_secrets_masked() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "canvas_live", "config", "--token", "s3cret", "--max-batch", "7"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert 'token = "***"' in done.stdout and "s3cret" not in done.stdout
    assert "max_batch = 7" in done.stdout and 'palette = "obsidian"' in done.stdout
    shown = subprocess.run([sys.executable, "-m", "canvas_live", "serve", "--help"], capture_output=True, text=True)
    assert "(default: 64)" in " ".join(shown.stdout.split()) and "--no-demo" in shown.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_serve_runs_and_shuts_down_with_1012(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "CANVAS_LIVE_PORT": str(port), "CANVAS_LIVE_VAULT": str(tmp_path / "vault")}
    process = subprocess.Popen(
        [sys.executable, "-m", "canvas_live", "serve", "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 15
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/api/v1/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "server did not come up"
                await asyncio.sleep(0.1)
        assert (tmp_path / "vault").is_dir()
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.recv()
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        # uvicorn re-raises the signal once it has shut down cleanly, as a well-behaved daemon does.
        assert process.wait(timeout=15) in (0, -signal.SIGTERM)
        assert process.stdout is not None
        printed = process.stdout.read().decode()
        assert f"dashboard  http://127.0.0.1:{port}/" in printed  # what a new user opens
        assert f"websocket  ws://127.0.0.1:{port}/ws" in printed
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
