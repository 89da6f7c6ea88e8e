"""Colour codes of a canvas and the learning states they stand for (docs/canvases.md).

A learner marks how well they understand a node by its colour. Two conventions exist: `obsidian`
(the default: JSON Canvas's presets as Obsidian draws them, so red is `"1"`) and `cls` (the Canvas
Learning System's, whose red `"4"` Obsidian draws green). A palette maps each state to the code it
writes, and reads a few extra codes as a state too (older `cls` files use `"1"` for red).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from canvas_live.protocol.errors import invalid_params

STATES = ("red", "purple", "green", "yellow", "blue")
"""Learning states: not understood, partly understood, understood, own explanation, AI explanation."""

MEANINGS = {
    "red": "not understood",
    "purple": "partly understood",
    "green": "understood",
    "yellow": "the learner's own explanation",
    "blue": "an AI explanation",
}
"""What each learning state says about a node, in words a reader of the canvas (or a model) can use."""

_CODE = re.compile(r"^(?:[1-6]|#[0-9a-fA-F]{6})$")


def is_color_code(value: str) -> bool:
    """A JSON Canvas colour: a preset `"1"`-`"6"` or `#rrggbb`."""
    return _CODE.match(value) is not None


@dataclass(frozen=True, slots=True)
class Palette:
    """One colour convention: the code written for each state, and extra codes read as a state."""

    name: str
    codes: dict[str, str]
    also_read: dict[str, str] = field(default_factory=dict)

    def code_of(self, state: str) -> str:
        """The colour code to write for a learning state."""
        return self.codes[state]

    def state_of(self, color: str | None) -> str | None:
        """The learning state a colour code means in this palette, or None (uncoloured, other colours)."""
        if color is None:
            return None
        for state, code in self.codes.items():
            if code == color:
                return state
        return self.also_read.get(color)

    def legend(self) -> dict[str, dict[str, str]]:
        """Every code this palette reads as a state, with the state and what it means: `{"1": {state, means}}`."""
        states = {**self.also_read, **{code: state for state, code in self.codes.items()}}
        return {code: {"state": state, "means": MEANINGS[state]} for code, state in states.items()}

    def codes_for(self, state: str) -> frozenset[str]:
        """Every code that reads as `state`."""
        extra = (code for code, alias in self.also_read.items() if alias == state)
        return frozenset((self.codes[state], *extra))

    def select(self, colors: Iterable[str], field: str = "color") -> frozenset[str]:
        """Codes matching a filter given as state names and/or colour codes; hex is matched case-blind."""
        selected: set[str] = set()
        for index, value in enumerate(colors):
            if value in self.codes:
                selected |= self.codes_for(value)
            elif is_color_code(value):
                selected.add(value.lower())
            else:
                raise invalid_params(
                    f"unknown colour {value!r}: use a state ({', '.join(STATES)}) or a code ('1'-'6', '#rrggbb')",
                    f"{field}[{index}]",
                )
        return frozenset(selected)


PALETTES = {
    "cls": Palette("cls", {"red": "4", "purple": "3", "green": "2", "yellow": "6", "blue": "5"}, {"1": "red"}),
    "obsidian": Palette("obsidian", {"red": "1", "purple": "6", "green": "4", "yellow": "3", "blue": "5"}),
}
"""The palettes `--palette` chooses from."""


def recolour(color: str | None, source: Palette, target: Palette) -> str | None:
    """The code `target` writes for the state `color` has in `source` (other colours unchanged)."""
    state = source.state_of(color)
    return color if state is None else target.code_of(state)


def convention_votes(documents: Iterable[Any]) -> dict[str, int]:
    """For each palette, how many question -> answer edges of the documents it reads as such:
    a red or purple node pointing at a yellow one, the shape of every learning canvas."""
    votes = dict.fromkeys(PALETTES, 0)
    for document in documents:
        for edge in document.edges:
            source, target = document.node(edge["fromNode"]), document.node(edge["toNode"])
            if source is None or target is None:
                continue
            for name, palette in PALETTES.items():
                question = palette.state_of(source.get("color")) in ("red", "purple")
                votes[name] += question and palette.state_of(target.get("color")) == "yellow"
    return votes


def palette_hint(current: str, votes: dict[str, int]) -> str | None:
    """A sentence naming the flag to use when the canvases plainly follow another convention."""
    other = max((name for name in votes if name != current), key=lambda name: votes[name])
    if votes[other] >= 3 and votes[other] > 2 * votes[current]:
        return (
            f"the canvases of this vault look like the {other!r} colour convention ({votes[other]} question -> "
            f"answer edges read that way, {votes[current]} as {current!r}): run with --palette {other}"
        )
    return None
