"""Agent definitions: Markdown files with YAML front matter and the prompt as the body.

The shape is that of Claude Code sub-agent files, so a learner can point `--agents-dir` at agents
they already have. Front matter is read with PyYAML (safe loader) because such files use real YAML
(quoted strings, block scalars, lists such as `tools:`), which a line splitter would misread.

A user file named like a built-in agent replaces its prompt but keeps its input and output types;
any other name is a user-defined agent with free-form JSON input.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import yaml

from canvas_live.protocol.errors import convert_params, not_found
from canvas_live.services.agents.schemas import (
    BUILTIN_SCHEMAS,
    EXPLANATION_STYLES,
    USER_JSON,
    USER_MARKDOWN,
    AgentSchema,
)

log = logging.getLogger("canvas_live.agents")

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?P<meta>.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(?P<body>.*)\Z", re.DOTALL)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

Output = Literal["json", "markdown"]

MAX_TOKENS_LIMIT = 32768


class DefinitionError(ValueError):
    """An agent file that cannot be used, with the reason."""


@dataclass(frozen=True, slots=True)
class AgentDefinition:
    """One agent: who it is, what it answers, and the prompt a model is given."""

    name: str
    description: str
    output: Output
    prompt: str
    model: str | None = None
    source: str = ""
    token_limit: int | None = None
    """The front matter's `max_tokens`, where a file sets one."""
    temperature: float | None = None
    """The front matter's `temperature`, where a file sets one; else the model's own default."""

    @property
    def max_tokens(self) -> int:
        """The most tokens a model may answer this agent with: the file's own limit, else its output type's."""
        return self.token_limit or self.schema.max_tokens

    @property
    def schema(self) -> AgentSchema:
        """The input and output types this agent is held to."""
        if self.name in BUILTIN_SCHEMAS:
            return BUILTIN_SCHEMAS[self.name]
        return USER_JSON if self.output == "json" else USER_MARKDOWN

    def decode_input(self, value: Any, prefix: str = "input") -> Any:
        """Validate a call's input against the agent's input type, or raise -32602 naming the field."""
        return convert_params(value, self.schema.input, f"input does not fit agent {self.name!r}", prefix)


def parse_definition(text: str, source: str = "") -> AgentDefinition:
    """Parse one definition file; raise `DefinitionError` saying what is wrong."""
    match = _FRONT_MATTER.match(text.lstrip("\ufeff"))
    if match is None:
        raise DefinitionError("no front matter: the file must start with a --- block")
    try:
        meta = yaml.safe_load(match["meta"]) or {}
    except yaml.YAMLError as exc:
        raise DefinitionError(f"front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise DefinitionError("front matter must be a mapping of keys to values")
    name = meta.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError("`name` must be 1-64 letters, digits, '-', '_' or '.'")
    output = meta.get("output", "markdown")
    if output not in ("json", "markdown"):
        raise DefinitionError("`output` must be json or markdown")
    if name in BUILTIN_SCHEMAS and output != ("markdown" if name in EXPLANATION_STYLES else "json"):
        raise DefinitionError(f"`output` of the built-in agent {name!r} cannot change")
    model = meta.get("model")
    token_limit = meta.get("max_tokens")
    if token_limit is not None and (type(token_limit) is not int or not 16 <= token_limit <= MAX_TOKENS_LIMIT):
        raise DefinitionError(f"`max_tokens` must be a whole number from 16 to {MAX_TOKENS_LIMIT}")
    temperature = meta.get("temperature")
    if temperature is not None and (type(temperature) not in (int, float) or not 0 <= temperature <= 2):
        raise DefinitionError("`temperature` must be a number from 0 to 2")
    prompt = match["body"].strip()
    if not prompt:
        raise DefinitionError("the prompt (the body after the front matter) is empty")
    return AgentDefinition(
        name=name,
        description=str(meta.get("description") or "").strip(),
        output=output,
        prompt=prompt,
        model=str(model) if model else None,
        source=source,
        token_limit=token_limit,
        temperature=float(temperature) if temperature is not None else None,
    )


def _builtin_files() -> Iterator[Traversable]:
    folder = resources.files(__package__).joinpath("definitions")
    return (item for item in folder.iterdir() if item.name.endswith(".md"))


def builtin_definitions() -> list[AgentDefinition]:
    """The definitions shipped with the package; a broken one is a bug, so it raises."""
    return sorted(
        (parse_definition(item.read_text(encoding="utf-8"), f"builtin:{item.name}") for item in _builtin_files()),
        key=lambda definition: definition.name,
    )


def user_definitions(folder: Path) -> list[AgentDefinition]:
    """The definitions in a user's folder; an unusable file is logged and skipped, not fatal."""
    found = []
    for path in sorted(folder.glob("*.md")):
        try:
            found.append(parse_definition(path.read_text(encoding="utf-8"), str(path)))
        except (OSError, UnicodeDecodeError, DefinitionError) as exc:
            log.warning("skipping agent definition %s: %s", path, exc)
    return found


class AgentCatalog:
    """The agents a server knows, by name; later definitions replace earlier ones of the same name."""

    def __init__(self, definitions: Iterable[AgentDefinition]) -> None:
        self._by_name: dict[str, AgentDefinition] = {}
        for definition in definitions:
            self._by_name[definition.name] = definition

    @classmethod
    def load(cls, user_folder: Path | None) -> AgentCatalog:
        """The built-in agents, then those of `user_folder` (which may override built-in prompts)."""
        definitions = builtin_definitions()
        if user_folder is not None:
            definitions += user_definitions(user_folder)
        return cls(definitions)

    def get(self, name: str) -> AgentDefinition:
        """The agent called `name`, or `NOT_FOUND` with `data.kind = "agent"`."""
        definition = self._by_name.get(name)
        if definition is None:
            raise not_found("agent", name)
        return definition

    def __iter__(self) -> Iterator[AgentDefinition]:
        return iter(sorted(self._by_name.values(), key=lambda definition: definition.name))

    def __len__(self) -> int:
        return len(self._by_name)
