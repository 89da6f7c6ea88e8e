"""The AgentService: every agent call of the server goes through here, whoever makes it.

- One `asyncio.Semaphore(max_concurrent)` bounds the attempts running at once across all clients
  and tasks. A slot is taken for one attempt and given back before any back-off sleep, so a call
  waiting to retry never blocks a call that could run.
- Failures are classified (`errors.py`, docs/architecture.md); only RETRYABLE ones are retried, with the
  declared tenacity policy (random exponential back-off, bounded attempts and time). A 429's
  `Retry-After` raises the wait to at least that long, within the policy's maximum.
- The backend's circuit breaker sees every attempt; its changes go out on the `agents` topic.
- A call has a deadline (its own `timeout`, else the default) over all its attempts, and each
  attempt has its own timeout. Cancelling the caller cancels the attempt, which stops the backend.
- An answer that does not fit the agent's output type gets one repair turn within the same attempt
  (the model is shown its answer and what was wrong); a second misfit fails the call with
  `reason` "invalid_output" (or "length" when the model was cut off at `max_tokens`).
- A streaming backend's token count is passed on while the call runs, at most `PROGRESS_RATE`
  times a second, so a learner waiting on a slow local model sees it move.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_random_exponential

from canvas_live.protocol.errors import ErrorCode, ErrorInfo, RpcError
from canvas_live.services.agents.backends import Backend
from canvas_live.services.agents.breaker import CircuitBreaker
from canvas_live.services.agents.calls import AgentRequest, AgentResult, Completion
from canvas_live.services.agents.definitions import AgentCatalog, AgentDefinition
from canvas_live.services.agents.errors import AgentError, Category
from canvas_live.services.hub import Hub

log = logging.getLogger("canvas_live.agents")

PROGRESS_RATE = 4
"""Token counts passed on per call and second, at most: the latest count wins."""

TokensSeen = Callable[[int], None]
"""Told a running call's token count (throttled to `PROGRESS_RATE` a second)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The retry policy for RETRYABLE failures, as one declared tenacity object."""

    attempts: int = 5
    max_delay: float = 60.0
    wait_min: float = 2.0
    wait_max: float = 30.0

    def retrying(self) -> AsyncRetrying:
        """A fresh `AsyncRetrying` for one call."""
        backoff = wait_random_exponential(multiplier=1, min=self.wait_min, max=self.wait_max)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome is not None else None
            hint = error.data.get("retry_after") if isinstance(error, AgentError) else None
            return min(max(backoff(state), float(hint or 0.0)), self.wait_max)

        return AsyncRetrying(
            retry=retry_if_exception(lambda exc: isinstance(exc, AgentError) and exc.category is Category.RETRYABLE),
            stop=stop_after_attempt(self.attempts) | stop_before_delay(self.max_delay),
            wait=wait,
            reraise=True,
        )


@dataclass(frozen=True, slots=True)
class AgentServiceConfig:
    """Limits and policies of the AgentService."""

    max_concurrent: int = 12
    call_timeout: float = 600.0
    attempt_timeout: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    breaker_threshold: int = 5
    breaker_reset: float = 60.0


class AgentInfo(msgspec.Struct):
    """An agent as `agent.list` describes it."""

    name: str
    description: str
    output: str
    backend: str


class AgentStats(msgspec.Struct):
    """Live counters: attempts running and waiting for a slot, and calls made and failed."""

    backend: str
    max_concurrent: int
    in_flight: int
    peak_in_flight: int
    queued: int
    total: int
    failed: int
    retries: int
    circuit: str
    output_mode: str
    """How JSON agents get structured output now (see `Backend.output_mode`)."""


class _Attempts:
    """How many attempts one call has made (tenacity's own count is not visible from outside), and
    the call's deadline, which starts when its first attempt gets a slot."""

    __slots__ = ("count", "deadline", "limit")

    def __init__(self, deadline: float, limit: asyncio.Timeout) -> None:
        self.count = 0
        self.deadline = deadline
        self.limit = limit

    def slotted(self) -> None:
        """The attempt got its slot: the first one starts the call's time limit."""
        if self.count == 1:
            self.limit.reschedule(asyncio.get_running_loop().time() + self.deadline)


class _Throttled:
    """A call's token counts, passed on at most `PROGRESS_RATE` times a second; counts keep rising
    across the repair turn and a retry's new attempt, so a watcher never sees them go back."""

    __slots__ = ("base", "last", "seen", "sink")

    def __init__(self, sink: TokensSeen) -> None:
        self.sink = sink
        self.base = 0
        self.seen = 0
        self.last = 0.0

    def __call__(self, count: int) -> None:
        self.seen = self.base + count
        now = time.monotonic()
        if now - self.last >= 1 / PROGRESS_RATE:
            self.last = now
            self.sink(self.seen)

    def next_answer(self) -> None:
        """A new answer begins: its tokens count on from the last one's."""
        self.base = self.seen


class Slots(Protocol):
    """The limit on attempts in flight: an `asyncio.Semaphore` in one process, leases on Redis across several."""

    async def acquire(self) -> Any:
        """Wait for a free slot."""

    def release(self) -> None:
        """Give the slot back."""


class AgentService:
    """Runs agent calls through one backend, within the server-wide concurrency limit."""

    def __init__(
        self,
        catalog: AgentCatalog,
        backend: Backend,
        config: AgentServiceConfig,
        hub: Hub,
        slots: Slots | None = None,
    ) -> None:
        self.catalog = catalog
        self.backend = backend
        self.config = config
        self.hub = hub
        self.breaker = CircuitBreaker(
            backend.name, config.breaker_threshold, config.breaker_reset, on_change=self._circuit_changed
        )
        self._slots: Slots = slots if slots is not None else asyncio.Semaphore(config.max_concurrent)
        self._in_flight = 0
        self._peak = 0
        self._queued = 0
        self._total = 0
        self._failed = 0
        self._retries = 0

    def list_agents(self) -> list[AgentInfo]:
        """Every agent this server can call, by name."""
        return [AgentInfo(d.name, d.description, d.output, self.backend.name) for d in self.catalog]

    def prepare(self, agent: str, value: Any, where: str = "input") -> AgentRequest:
        """Look the agent up and validate the input (`where` names it in errors): `NOT_FOUND` or -32602."""
        definition: AgentDefinition = self.catalog.get(agent)
        return AgentRequest(definition, definition.decode_input(value, where))

    async def call_agent(
        self, agent: str, value: Any, *, timeout: float | None = None, key: str | None = None
    ) -> AgentResult:
        """One call, answered when it ends; a failure is raised as its contract error."""
        result = await self.run(self.prepare(agent, value), timeout=timeout, key=key)
        if result.error is not None:
            raise failure(result)
        return result

    async def call_agents_batch(
        self,
        requests: Sequence[tuple[AgentRequest, str | None]],
        on_result: Callable[[AgentResult], None] | None = None,
        on_tokens: Callable[[AgentRequest, str | None, int], None] | None = None,
    ) -> list[AgentResult]:
        """Run calls concurrently (each still waits for a slot); one failure never sinks the others.

        `on_result` hears of each call as it ends; `on_tokens` of each running call's token count."""

        async def one(request: AgentRequest, key: str | None) -> AgentResult:
            tokens = None if on_tokens is None else (lambda count: on_tokens(request, key, count))
            result = await self.run(request, key=key, on_tokens=tokens)
            if on_result is not None:
                on_result(result)
            return result

        outcomes = await asyncio.gather(*(one(request, key) for request, key in requests), return_exceptions=True)
        results = []
        for (request, key), outcome in zip(requests, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                outcome = _crashed(request, key, outcome)
            results.append(outcome)
        return results

    async def run(
        self,
        request: AgentRequest,
        *,
        timeout: float | None = None,
        key: str | None = None,
        on_tokens: TokensSeen | None = None,
    ) -> AgentResult:
        """One call with retries under its deadline; its failure is returned in the result, not raised."""
        deadline = timeout if timeout is not None else self.config.call_timeout
        meter = _Throttled(on_tokens) if on_tokens is not None else None
        started = time.perf_counter()
        self._total += 1
        error: AgentError
        # The deadline runs from the first slot: with fewer slots than calls (one, on a small local
        # engine), a call waiting its turn in the queue has not started to take long.
        limit = asyncio.timeout(None)
        attempts = _Attempts(deadline, limit)
        try:
            async with limit:
                output: Any = await self.config.retry.retrying()(self._attempt, request, attempts, meter)
        except AgentError as exc:
            error = exc
        except TimeoutError:
            error = AgentError(
                Category.RETRYABLE,
                f"agent {request.definition.name!r} did not answer within {deadline:g} s",
                ErrorCode.TIMEOUT,
                timeout=deadline,
            )
        else:
            return AgentResult(
                request.definition.name,
                True,
                attempts.count,
                _ms_since(started),
                key,
                output,
                estimate=self.backend.estimates,
            )
        finally:
            self._retries += max(0, attempts.count - 1)
        self._failed += 1
        info = ErrorInfo(int(error.code), error.code.name, error.message, error.category.value, error.data or None)
        return AgentResult(
            request.definition.name,
            False,
            attempts.count,
            _ms_since(started),
            key,
            error=info,
            estimate=self.backend.estimates,
        )

    async def _attempt(self, request: AgentRequest, attempts: _Attempts, meter: _Throttled | None) -> Any:
        """One attempt in one slot: the answer, and a repair turn if the answer does not fit."""
        attempts.count += 1
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        attempts.slotted()
        try:
            self.breaker.admit()
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            try:
                return await self._answer(request, meter)
            finally:
                self._in_flight -= 1
        finally:
            self._slots.release()

    async def _answer(self, request: AgentRequest, meter: _Throttled | None) -> Any:
        """The checked output; after a misfit, the model is asked once more with what was wrong."""
        completion = await self._complete(request, meter)
        try:
            return request.parse_output(completion)
        except AgentError as misfit:
            problem = misfit.data.get("problem")
            if problem is None:
                raise
            # A cut answer is as long as the limit: sent back whole with room for another as long,
            # it could overflow a small engine's context, so the model sees how it began.
            shown = misfit.data["excerpt"] if misfit.data.get("reason") == "length" else completion.text
        repair = request.repaired(shown, problem)
        return repair.parse_output(await self._complete(repair, meter))

    async def _complete(self, request: AgentRequest, meter: _Throttled | None) -> Completion:
        """One backend request under the attempt timeout, its outcome reported to the breaker."""
        limit = self.config.attempt_timeout
        if meter is not None:
            meter.next_answer()
        try:
            async with asyncio.timeout(limit):
                completion = await self.backend.complete(request, meter)
        except TimeoutError:
            self.breaker.record_failure()
            raise AgentError(
                Category.RETRYABLE,
                f"the {self.backend.name} backend did not answer within {limit:g} s",
                ErrorCode.TIMEOUT,
            ) from None
        except AgentError as exc:
            if exc.category is Category.RETRYABLE:
                self.breaker.record_failure()
            else:
                self.breaker.record_success()
            raise
        except asyncio.CancelledError:
            self.breaker.record_abandoned()
            raise
        except Exception:
            self.breaker.record_abandoned()
            log.exception("the %s backend failed unexpectedly", self.backend.name)
            raise AgentError(Category.NON_RETRYABLE, f"the {self.backend.name} backend failed unexpectedly") from None
        self.breaker.record_success()
        return completion

    def _circuit_changed(self, breaker: CircuitBreaker) -> None:
        fields: dict[str, Any] = {"backend": breaker.backend, "state": breaker.state.value}
        if breaker.retry_at is not None:
            fields["retry_at"] = breaker.retry_at
        log.warning("circuit of the %s backend is %s", breaker.backend, breaker.state.value)
        self.hub.publish("agents", "agent.circuit", fields)

    def stats(self) -> AgentStats:
        """Counters for `server.info` and the health probe (memory only)."""
        return AgentStats(
            backend=self.backend.name,
            max_concurrent=self.config.max_concurrent,
            in_flight=self._in_flight,
            peak_in_flight=self._peak,
            queued=self._queued,
            total=self._total,
            failed=self._failed,
            retries=self._retries,
            circuit=self.breaker.state.value,
            output_mode=self.backend.output_mode,
        )

    async def close(self) -> None:
        """Release the backend's connections."""
        await self.backend.close()


def failure(result: AgentResult) -> RpcError:
    """The contract error of a failed call: its code, with `category` and `attempts` in `data`."""
    assert result.error is not None
    info = result.error
    return RpcError(
        ErrorCode(info.code),
        info.message,
        **(info.data or {}),
        category=info.category,
        attempts=result.attempts,
        agent=result.agent,
    )


def _crashed(request: AgentRequest, key: str | None, exc: BaseException) -> AgentResult:
    """The result of a call that ended by an exception `run` does not turn into a result."""
    if isinstance(exc, asyncio.CancelledError):
        info = ErrorInfo(int(ErrorCode.CANCELLED), ErrorCode.CANCELLED.name, "the call was cancelled")
    else:
        log.error("agent call %s crashed", request.definition.name, exc_info=exc)
        info = ErrorInfo(int(ErrorCode.INTERNAL_ERROR), ErrorCode.INTERNAL_ERROR.name, "internal error")
    return AgentResult(request.definition.name, False, 0, 0.0, key, error=info)


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
