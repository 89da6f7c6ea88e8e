"""`canvas-live serve`: parse settings, then run the app under uvicorn (uvloop, websockets-sansio)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import redis.asyncio as aioredis
import uvicorn
from redis.exceptions import RedisError

from canvas_live import NAME, __version__
from canvas_live.server import obsidian
from canvas_live.server.app import create_app
from canvas_live.server.gate import guarded_protocol
from canvas_live.server.logs import configure_logging
from canvas_live.server.mcp import run_stdio
from canvas_live.server.security import mask_tokens_in_logs
from canvas_live.server.settings import SettingError, Settings, add_arguments, describe, load_settings
from canvas_live.server.workers import run_workers
from canvas_live.services.cluster import redact


def uvicorn_options(settings: Settings) -> dict[str, object]:
    """The one set of uvicorn options the CLI, the tests and the benchmarks (baselines too) run."""
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": "auto",  # uvloop where it is installed (not on Windows), asyncio elsewhere
        "http": guarded_protocol(settings.request_timeout),  # httptools, with deadlines and room kept
        "ws": "websockets-sansio",
        "ws_max_size": settings.max_message_size,
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
        "ws_per_message_deflate": False,
        "lifespan": "on",
        "log_level": settings.log_level,
        "access_log": False,
        "timeout_keep_alive": settings.keep_alive_timeout,
        "timeout_graceful_shutdown": settings.shutdown_grace,
    }


def uvicorn_config(settings: Settings, **overrides: object) -> uvicorn.Config:
    """A uvicorn configuration serving canvas-live with `settings`."""
    options = uvicorn_options(settings) | overrides
    config = uvicorn.Config(create_app(settings), **options)  # type: ignore[arg-type]
    mask_tokens_in_logs()  # after uvicorn set up its loggers
    return config


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `canvas-live` console script."""
    parser = argparse.ArgumentParser(prog=NAME, description="Real-time backend for learning on Obsidian canvases.")
    parser.add_argument("--version", action="version", version=f"{NAME} {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    add_arguments(serve)
    stdio = commands.add_parser(
        "mcp", help="serve MCP on stdin/stdout, for a desktop app that starts its MCP servers itself"
    )
    add_arguments(stdio)
    config = commands.add_parser("config", help="print the settings `serve` would use with these options")
    add_arguments(config)
    obsidian.add_command(commands)
    args = parser.parse_args(argv)
    if (run := getattr(args, "run", None)) is not None:  # a subcommand that needs no server settings
        return int(run(args))
    try:
        settings = load_settings(args)
    except SettingError as exc:
        parser.exit(2, f"{NAME}: {exc}\n")
    if args.command == "config":
        print(describe(settings))
        return 0
    configure_logging(settings.log_level, settings.log_format)
    settings.vault.mkdir(parents=True, exist_ok=True)
    if settings.cluster_url is not None:
        problem = asyncio.run(redis_problem(settings.cluster_url))
        if problem is not None:
            parser.exit(1, f"{NAME}: {problem}\n")
    if args.command == "mcp":
        return run_stdio(settings)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    engine = f", Redis {redact(settings.cluster_url)}" if settings.cluster_url else ""
    workers = f", {settings.workers} workers" if settings.workers > 1 else ""
    print(
        f"{NAME} {__version__}: vault {settings.vault.resolve()}, agents {settings.agent_backend}{engine}{workers}\n"
        f"  dashboard  http://{host}:{settings.port}/\n  websocket  ws://{host}:{settings.port}/ws",
        flush=True,
    )
    if settings.workers > 1:
        run_workers(settings)
        return 0
    server = uvicorn.Server(uvicorn_config(settings, log_config=None))  # its loggers use ours
    server.run()
    return 0


async def redis_problem(url: str) -> str | None:
    """Why the Redis at `url` cannot be used, in one line, or None: checked before anything starts."""
    client = aioredis.Redis.from_url(url, socket_connect_timeout=2.0, socket_timeout=2.0)
    try:
        await client.ping()
    except RedisError as exc:
        return f"cannot use Redis at {redact(url)}: {exc}"
    finally:
        await client.aclose()
    return None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
