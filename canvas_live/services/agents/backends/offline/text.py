"""Text analysis for the offline agents: sentences, coverage, copying (key terms: `terms.py`).

Everything here is deterministic.
"""

from __future__ import annotations

import re

from canvas_live.services.agents.backends.offline.terms import is_chinese, key_terms
from canvas_live.services.agents.backends.offline.tokens import mentions

__all__ = ["is_chinese", "key_terms", "mentions"]


_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n+|(?<=[.])\s+")
_MARKUP = re.compile(r"^[\s#>*\-+\d.、)）]+")
_HEADING_LINE = re.compile(r"^\s{0,3}#{1,6}\s.*$", re.M)
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")
ANALOGY_MARKERS = (
    "比如", "例如", "举个例子", "举例", "就像", "好比", "好像", "想象", "类似", "比方", "打个比方", "譬如", "像是",
    "for example", "for instance", "e.g.", "such as", "imagine", "like a", "like an", "as if", "similar to",
    "analogy", "picture", "think of",
)  # fmt: skip


def body(text: str) -> str:
    """The text without its Markdown heading lines: a heading names a subject, it says nothing about it."""
    return _HEADING_LINE.sub("", text)


def sentences(text: str) -> list[str]:
    """The text's sentences, with list and heading markup removed."""
    parts = (_MARKUP.sub("", part).strip() for part in _SENTENCE_END.split(text))
    return [part for part in parts if len(part) > 1]


def shorten(text: str, limit: int = 60) -> str:
    """`text` cut to about `limit` characters at a natural break, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(",，;；:：") + "…"


def sentence_with(text: str, term: str, used: set[str] | None = None) -> str | None:
    """The first sentence of `text` that mentions `term` and is not in `used` (which it joins)."""
    for sentence in sentences(text):
        if mentions(sentence, term) and (used is None or sentence not in used):
            if used is not None:
                used.add(sentence)
            return sentence
    return None


def size(text: str) -> int:
    """Length in words; two Chinese characters count as one word."""
    return len(_EN_WORD.findall(text)) + len(_CJK.findall(text)) // 2


def copied_ratio(answer: str, source: str) -> float:
    """Share of the answer's windows (6 characters in Chinese, 16 otherwise) found verbatim in the source."""
    compact_answer = "".join(answer.split())
    compact_source = "".join(source.split())
    window = 6 if is_chinese(answer) else 16
    if len(compact_answer) < window or not compact_source:
        return 0.0
    spans = [compact_answer[index : index + window] for index in range(0, len(compact_answer) - window + 1)]
    return sum(span in compact_source for span in spans) / len(spans)


def analogy_count(text: str) -> int:
    """How many example or analogy markers the text uses."""
    folded = text.lower()
    return sum(folded.count(marker) for marker in ANALOGY_MARKERS)
