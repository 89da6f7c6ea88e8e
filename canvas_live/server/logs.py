"""One log format for everything the process writes, uvicorn's lines included: plain text, or JSON.

`--log-format json` writes one JSON object per line: `time`, `level`, `logger`, `message`, the
context of the line (`peer`, `request_id`, `method`, `task_id`, `canvas`, see
`protocol.logcontext`) and `exception` when there is one. uvicorn is run without a logging
configuration of its own, so its loggers reach the same handler.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import msgspec

from canvas_live.protocol import logcontext
from canvas_live.server.security import MaskTokens

_encode = msgspec.json.Encoder().encode


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """`time`, `level`, `logger`, `message`, the line's context, and the exception if any."""
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **logcontext.fields(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode(line).decode()


class PlainFormatter(logging.Formatter):
    """`time level logger: message`, then the line's context in brackets."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """The plain line, with `[request_id=… method=…]` when the line has a context."""
        text = super().format(record)
        context = logcontext.fields()
        if context:
            text += " [" + " ".join(f"{key}={value}" for key, value in context.items()) + "]"
        return text


def configure_logging(level: str, style: str) -> None:
    """Send every logger (uvicorn's too) to standard error in `style` (plain or json), tokens masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if style == "json" else PlainFormatter())
    handler.addFilter(MaskTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
