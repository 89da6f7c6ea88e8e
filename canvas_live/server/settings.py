"""Server settings: one dataclass, filled from flags, `CANVAS_LIVE_*` variables and a TOML file.

Each field's metadata carries its help text, so the CLI, the environment and the config file are
generated from this one list and cannot drift apart. Precedence: flag, then environment, then the
`--config` file (the same names as the flags, `max_inflight = 32` or `max-inflight = 32`), then the
default. A bad value from any of them is one `SettingError` naming the setting and where it came
from; the CLI prints it and exits 2.
"""

from __future__ import annotations

import argparse
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from canvas_live.services.cluster import redact

ENV_PREFIX = "CANVAS_LIVE_"


def _opt(default: Any, help: str, **extra: Any) -> Any:
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the server can be told at start-up."""

    vault: Path = _opt(Path("vault"), "folder holding the .canvas files")
    host: str = _opt("127.0.0.1", "address to bind; the default keeps the server local")
    port: int = _opt(8765, "TCP port (0 picks a free one)")
    token: str | None = _opt(None, "shared secret every WebSocket handshake and API call must present")
    allow_origin: tuple[str, ...] = _opt((), "extra browser Origin allowed on /ws (repeatable)", multiple=True)
    agent_backend: str = _opt("offline", "agent backend", choices=("offline", "openai", "anthropic", "command"))
    max_concurrent_agents: int = _opt(12, "agent calls in flight across the whole server")
    palette: str = _opt(
        "obsidian",
        "colour convention for learning states: obsidian (red 1, as Obsidian draws it) or cls (red 4, the "
        "Canvas Learning System's)",
        choices=("obsidian", "cls"),
    )
    data_dir: Path | None = _opt(None, "where server state lives (default <vault>/.canvas-live)")
    demo: bool = _opt(False, "seed an empty vault with sample learning canvases")
    redis: str | None = _opt(
        None,
        "Redis URL (redis://HOST:PORT/DB) that several processes share: hub, task store, agent limit, canvas locks",
    )
    workers: int = _opt(1, "processes serving the one port (above 1 needs --redis)")
    instance: str | None = _opt(None, "this process's name on Redis (default HOST:PORT, with the worker's number)")
    hub_url: str | None = _opt(
        None, "pub/sub engine: memory:// or redis://… (default: --redis if given, else memory://)"
    )
    max_message_size: int = _opt(1 << 20, "largest accepted frame or request body, in bytes")
    max_batch: int = _opt(100, "largest accepted JSON-RPC batch")
    max_inflight: int = _opt(64, "requests one connection may have running at once")
    max_subscriptions: int = _opt(256, "topics one connection may subscribe to")
    max_connections: int = _opt(4096, "WebSocket connections at once")
    request_timeout: float = _opt(
        10.0, "seconds a client has to send a whole HTTP request or WebSocket handshake once it connects"
    )
    keep_alive_timeout: float = _opt(5.0, "seconds an idle HTTP keep-alive connection is kept open")
    send_queue: int = _opt(1024, "frames queued for one connection before it is dropped as a slow consumer")
    history_size: int = _opt(1000, "events kept per topic for resume")
    shutdown_grace: float = _opt(10.0, "seconds running work gets to finish on shutdown")
    log_level: str = _opt("info", "log level", choices=("critical", "error", "warning", "info", "debug"))
    log_format: str = _opt("plain", "log lines as plain text or one JSON object each", choices=("plain", "json"))
    # Canvases (docs/canvases.md)
    canvas_backups: int = _opt(3, "earlier versions of each canvas kept in <vault>/.canvas-live/backups (0: none)")
    # Agents and background tasks (docs/architecture.md)
    agents_dir: Path | None = _opt(None, "folder of extra agent definitions (Markdown with front matter)")
    agent_model: str | None = _opt(None, "model of the openai/anthropic backend (an agent's own `model` wins)")
    agent_base_url: str | None = _opt(
        None,
        "base URL of the openai/anthropic backend, e.g. http://127.0.0.1:11434/v1 for Ollama (default: the provider's)",
    )
    agent_api_key_env: str | None = _opt(
        None, "environment variable holding the backend's API key (default OPENAI_API_KEY / ANTHROPIC_API_KEY)"
    )
    agent_command: str | None = _opt(None, "command line of the command backend; the prompt goes to its stdin")
    offline_latency: float = _opt(0.0, "fixed delay added to every offline agent call, in seconds")
    agent_timeout: float = _opt(
        600.0,
        "default time limit of one agent call, retries included, from when it gets a slot, in seconds"
        " (sized for a model on a laptop CPU)",
    )
    agent_attempt_timeout: float = _opt(
        300.0, "time limit of one request to the agent backend, waiting in the engine's queue included, in seconds"
    )
    agent_retry_attempts: int = _opt(5, "attempts of an agent call whose failures are retryable")
    agent_retry_max_delay: float = _opt(60.0, "seconds after which an agent call stops retrying")
    agent_retry_wait_min: float = _opt(2.0, "shortest back-off between agent call attempts, in seconds")
    agent_retry_wait_max: float = _opt(30.0, "longest back-off between agent call attempts, in seconds")
    max_queued_agent_calls: int = _opt(
        5000, "agent calls waiting or running server-wide beyond which agent.batch answers OVERLOADED"
    )
    max_connection_agent_calls: int = _opt(
        2000, "agent calls in one connection's unfinished batches beyond which its agent.batch answers OVERLOADED"
    )
    breaker_threshold: int = _opt(5, "consecutive retryable failures that open a backend's circuit")
    breaker_reset: float = _opt(60.0, "seconds an open circuit refuses calls before one probe")
    task_store_url: str | None = _opt(
        None,
        "task store: sqlite:// (<data-dir>/tasks.sqlite3) or redis://… (default: --redis if given, else sqlite://)",
    )
    task_timeout: float = _opt(3600.0, "default time limit of a background task, in seconds")
    task_timeouts: tuple[str, ...] = _opt((), "time limit of a task kind, as KIND=SECONDS (repeatable)", multiple=True)
    task_retention_days: float = _opt(7.0, "days finished tasks are kept")
    task_retention_max: int = _opt(10_000, "finished tasks kept at most")

    @property
    def hub(self) -> str:
        """The hub's engine URL."""
        return self.hub_url or self.redis or "memory://"

    @property
    def task_store(self) -> str:
        """The task store's URL."""
        return self.task_store_url or self.redis or "sqlite://"

    @property
    def cluster_url(self) -> str | None:
        """The Redis the processes share, if any: `--redis`, or the hub's or task store's own Redis."""
        for url in (self.redis, self.hub, self.task_store):
            if url is not None and url.split("://", 1)[0] in REDIS_SCHEMES:
                return url
        return None

    @property
    def state_dir(self) -> Path:
        """Where the server keeps its own files."""
        return self.data_dir if self.data_dir is not None else self.vault / ".canvas-live"


class SettingError(ValueError):
    """A setting whose value cannot be used: the message names the setting and its source."""


REDIS_SCHEMES = ("redis", "rediss", "unix")

TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _convert(kind: Any, raw: str) -> Any:
    """A setting's text (a flag's or a variable's) as its type; ValueError saying what it expects."""
    text = str(kind)
    if "bool" in text:
        word = raw.strip().lower()
        if word not in TRUE + FALSE:
            raise ValueError("expects true or false (also 1/0, yes/no, on/off)")
        return word in TRUE
    if "tuple" in text:
        return tuple(item.strip() for item in raw.split(",") if item.strip())
    if "Path" in text:
        return Path(raw)
    try:
        if "float" in text:
            return float(raw)
        if "int" in text:
            return int(raw)
    except ValueError:
        raise ValueError(f"expects a number{'' if 'float' in text else ' without a fraction'}") from None
    return raw


def _checked(spec: Any, value: Any, source: str) -> Any:
    """`value` (text, or a TOML value) as the setting's type, within its choices, or SettingError."""
    try:
        if isinstance(value, list) and spec.metadata.get("multiple"):
            value = tuple(str(item) for item in value)
        elif isinstance(value, bool) and "bool" in str(spec.type):
            pass
        else:
            value = _convert(spec.type, value if isinstance(value, str) else str(value).lower())
    except ValueError as exc:
        raise SettingError(f"{source}: {exc}, got {value!r}") from None
    choices: Sequence[str] | None = spec.metadata.get("choices")
    if choices and value not in choices:
        raise SettingError(f"{source} must be one of {', '.join(choices)}, got {value!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--config` and one flag per setting; each help line names its environment variable and default."""
    parser.add_argument(
        "--config", type=Path, default=None, metavar="FILE",
        help=f"TOML file of settings, the same names as the flags [env {ENV_PREFIX}CONFIG]",
    )  # fmt: skip
    for spec in fields(Settings):
        flag = "--" + spec.name.replace("_", "-")
        env = ENV_PREFIX + spec.name.upper()
        default = spec.default if spec.default not in (None, ()) else "none"
        help_text = f"{spec.metadata['help']} (default: {default}) [env {env}]"
        if spec.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif spec.metadata.get("multiple"):
            parser.add_argument(flag, action="append", default=None, help=help_text)
        else:
            parser.add_argument(flag, default=None, metavar=spec.name.upper(), help=help_text)


def load_settings(args: argparse.Namespace | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from parsed flags, then the environment, then the config file, then the defaults."""
    environ = os.environ if environ is None else environ
    config = getattr(args, "config", None) or (
        Path(environ[ENV_PREFIX + "CONFIG"]) if environ.get(ENV_PREFIX + "CONFIG") else None
    )
    from_file = _read_config(config) if config is not None else {}
    values: dict[str, Any] = {}
    for spec in fields(Settings):
        flag = "--" + spec.name.replace("_", "-")
        given = getattr(args, spec.name, None) if args is not None else None
        raw = environ.get(ENV_PREFIX + spec.name.upper())
        if given is not None:
            if isinstance(given, list):
                values[spec.name] = tuple(given)
            else:
                values[spec.name] = given if isinstance(given, bool) else _checked(spec, given, flag)
        elif raw is not None and raw != "":
            values[spec.name] = _checked(spec, raw, ENV_PREFIX + spec.name.upper())
        elif spec.name in from_file:
            values[spec.name] = _checked(spec, from_file[spec.name], f"{config}: {spec.name}")
        elif spec.default is MISSING:  # pragma: no cover - every setting has a default
            raise SettingError(f"missing setting {spec.name}")
    settings = Settings(**values)
    _check_together(settings)
    return settings


def _check_together(settings: Settings) -> None:
    """What no single setting can say wrong: workers without Redis, a Redis URL that is not one."""
    if settings.redis is not None and settings.redis.split("://", 1)[0] not in REDIS_SCHEMES:
        raise SettingError(f"--redis expects redis://HOST:PORT/DB, got {redact(settings.redis)!r}")
    if settings.workers < 1:
        raise SettingError(f"--workers must be at least 1, got {settings.workers}")
    if settings.workers > 1 and settings.cluster_url is None:
        raise SettingError(
            f"--workers {settings.workers} needs --redis: processes without a shared Redis would each have "
            "their own events, tasks and agent limit"
        )


def _read_config(path: Path) -> dict[str, Any]:
    """The settings of a TOML file, by field name; an unknown name or a file that is not TOML is SettingError."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise SettingError(f"--config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingError(f"--config {path}: not TOML ({exc})") from None
    names = {spec.name for spec in fields(Settings)}
    settings = {key.replace("-", "_"): value for key, value in data.items()}
    unknown = sorted(set(settings) - names)
    if unknown:
        raise SettingError(f"--config {path}: unknown setting {unknown[0]!r}")
    return settings


SECRETS = frozenset({"token"})
"""Settings never printed as they are."""

URLS = frozenset({"redis", "hub_url", "task_store_url"})
"""Settings printed without the password they may carry."""


def describe(settings: Settings) -> str:
    """The effective settings as TOML, secrets masked: what `canvas-live config` prints."""
    lines = []
    for spec in fields(Settings):
        value = getattr(settings, spec.name)
        if spec.name in SECRETS and value:
            value = "***"
        elif spec.name in URLS and value:
            value = redact(value)
        if value is None:
            lines.append(f"# {spec.name} = (none)")
            continue
        if isinstance(value, Path):
            value = str(value)
        if isinstance(value, tuple):
            value = list(value)
        lines.append(f"{spec.name} = {_toml(value)}")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)
