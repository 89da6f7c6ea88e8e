"""Error classification (docs/architecture.md, "Agent failures"): what a failed agent attempt means
for retries and the breaker.

RETRYABLE: the backend may answer next time (timeouts, connection errors, HTTP 429 and 5xx).
NON_RETRYABLE: the same request would fail the same way (other 4xx, output that does not fit).
FATAL: nothing will work until someone changes the setup (HTTP 401/403, missing configuration).
Only RETRYABLE failures are retried, and only they count against a backend's circuit breaker.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from canvas_live.protocol.errors import ErrorCode


class Category(StrEnum):
    """The three error classes, as they appear in `ErrorInfo.category`."""

    RETRYABLE = "retryable"
    NON_RETRYABLE = "non_retryable"
    FATAL = "fatal"


class AgentError(Exception):
    """One failed attempt, classified; its message is safe to show (no keys, no prompts)."""

    def __init__(self, category: Category, message: str, code: ErrorCode = ErrorCode.AGENT_FAILED, **data: Any) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.code = code
        self.data = data


def classify_status(status: int) -> Category:
    """Classify an HTTP error status: 429/408/5xx may pass, 401/403 need a fix, the rest is the request."""
    if status in (401, 403):
        return Category.FATAL
    if status in (408, 429) or status >= 500:
        return Category.RETRYABLE
    return Category.NON_RETRYABLE


def unavailable(message: str) -> AgentError:
    """A backend or agent that cannot work as configured: FATAL, reported as `UNAVAILABLE`."""
    return AgentError(Category.FATAL, message, ErrorCode.UNAVAILABLE)
