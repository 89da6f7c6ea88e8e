"""Deterministic stand-ins for the built-in agents, used by the offline backend.

Each takes the agent's decoded input and returns its output (a struct, or Markdown text), so the
whole workflow can be shown and tested without a model or a network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from canvas_live.services.agents.backends.offline.explain import STYLES
from canvas_live.services.agents.backends.offline.questions import (
    basic_decomposition,
    deep_decomposition,
    verification_questions,
)
from canvas_live.services.agents.backends.offline.scoring import score

HEURISTICS: dict[str, Callable[[Any], Any]] = {
    "basic-decomposition": basic_decomposition,
    "deep-decomposition": deep_decomposition,
    "scoring": score,
    "verification-question": verification_questions,
    **STYLES,
}
"""The offline answer of each built-in agent, by agent name."""
