"""A per-backend circuit breaker: closed -> open after N consecutive failures -> one half-open probe.

Written here rather than taken from a library: pybreaker's async support needs Tornado; purgatory,
aiobreaker and circuitbreaker let every concurrent caller through while half-open (we promise one
probe), read the wall clock (a clock step would reopen or close the circuit), and count every
exception, while only RETRYABLE failures say anything about a backend's health. What is needed is
small: a state, a counter, a deadline on the monotonic clock, and a callback on every change.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from canvas_live.protocol.errors import ErrorCode
from canvas_live.services.agents.errors import AgentError, Category
from canvas_live.services.clock import utc_iso


class CircuitState(StrEnum):
    """The breaker's states as `agent.circuit` events name them."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


Listener = Callable[["CircuitBreaker"], None]


class CircuitBreaker:
    """Guards one backend; `admit` before each attempt, then exactly one of the `record_*` calls."""

    def __init__(
        self,
        backend: str,
        threshold: int = 5,
        reset_after: float = 60.0,
        on_change: Listener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.threshold = threshold
        self.reset_after = reset_after
        self.on_change = on_change
        self.clock = clock
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._probing = False

    @property
    def retry_at(self) -> str | None:
        """When an open breaker lets a probe through, as an ISO-8601 UTC time."""
        if self.state is not CircuitState.OPEN:
            return None
        return utc_iso(max(0.0, self.opened_at + self.reset_after - self.clock()))

    def admit(self) -> None:
        """Let an attempt through, or raise `CIRCUIT_OPEN`; past the open period the first caller probes."""
        if self.state is CircuitState.OPEN and self.clock() >= self.opened_at + self.reset_after:
            self._move(CircuitState.HALF_OPEN)
        if self.state is CircuitState.CLOSED:
            return
        if self.state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        raise AgentError(
            Category.NON_RETRYABLE,
            f"the {self.backend} backend is failing: calls are refused until it recovers",
            ErrorCode.CIRCUIT_OPEN,
            retry_at=self.retry_at or utc_iso(),
        )

    def record_success(self) -> None:
        """The backend answered (even if the answer was unusable): it is healthy."""
        self.failures = 0
        self._probing = False
        if self.state is not CircuitState.CLOSED:
            self._move(CircuitState.CLOSED)

    def record_failure(self) -> None:
        """A RETRYABLE failure: count it; the threshold, or a failed probe, opens the circuit."""
        self.failures += 1
        if self.state is CircuitState.HALF_OPEN or (
            self.state is CircuitState.CLOSED and self.failures >= self.threshold
        ):
            self._probing = False
            self.opened_at = self.clock()
            self._move(CircuitState.OPEN)

    def record_abandoned(self) -> None:
        """The attempt was cancelled before the backend said anything: let the next caller probe."""
        self._probing = False

    def _move(self, state: CircuitState) -> None:
        self.state = state
        if self.on_change is not None:
            self.on_change(self)
