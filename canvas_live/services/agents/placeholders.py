"""What is no explanation at all: an empty answer node, or one still holding the text that asks for it.

Review canvases, decompositions and learners' templates leave answer nodes to be filled in, empty
or with an instruction such as `[Answer in your own words]` or `[用自己的话回答]`. Scoring such a
node would judge the instruction, not the learner, and recolour its question for nothing, so the
score workflow and the offline scoring agent both ask here first and report it as unscorable.

A text is a placeholder when, once Markdown emphasis and spaces are set aside, it is
- nothing but punctuation (`...`, `…`, `？`, `-`);
- one bracketed phrase (`[…]`, `【…】`, `<…>`, `{…}`), which is how templates mark a slot (an
  Obsidian link `[[…]]` is the learner's own reference, and parentheses hold formulas: neither is);
- a filler word (`TODO`, `TBD`, `N/A`, `待填`, `待补充`, `略`, …);
- an instruction to answer (`Answer in your own words`, `Write your explanation here`, `用自己的话回答`,
  `在这里写下你的解释`, …).
"""

from __future__ import annotations

import re
from typing import Literal

Unanswered = Literal["empty", "placeholder"]

REASONS: dict[Unanswered, tuple[str, str]] = {
    "empty": ("还没有写解释：先用自己的话试着回答。", "the explanation is empty"),
    "placeholder": (
        "这里还是待填写的占位文字，不是解释：先用自己的话回答。",
        "the explanation is a placeholder still to be filled in",
    ),
}
"""Why an answer cannot be scored, in Chinese and in English."""

_EMPHASIS = re.compile(r"^\s*>|^\s*#+|[*_~`]+")
_PUNCTUATION_ONLY = re.compile(r"^[\W_]*$")
_BRACKETED = re.compile(r"^(?:\[(?!\[)[^\[\]]*\]|【[^【】]*】|<[^<>]*>|\{[^{}]*\})$")
_FILLER = re.compile(r"^(?:todo|tbd|tba|n/?a|none|empty|placeholder|待填写?|待补充|待完成|暂无|无|略|空)$", re.I)
_INSTRUCTION = re.compile(
    r"^(?:please\s+)?(?:answer|write|explain|type|put)\b.*\b(?:own words|here|below)$"
    r"|^(?:请)?(?:在这里|在此|用自己的话|用你自己的话)[^。！？.!?]{0,12}(?:回答|解释|写|作答)[^。！？.!?]{0,6}$",
    re.I,
)


def unanswered(text: str) -> Unanswered | None:
    """`"empty"` or `"placeholder"` when `text` is no explanation at all (see the module's rules), else None."""
    bare = " ".join(_EMPHASIS.sub("", text.strip()).split()).rstrip("。.!！:：")
    if _PUNCTUATION_ONLY.match(bare):
        return "empty"
    if _BRACKETED.match(bare) or _FILLER.match(bare) or _INSTRUCTION.match(bare):
        return "placeholder"
    return None
