"""Words as tokens, so that a term is found only where the text really says it.

A substring test finds `O₂` inside `CO₂` and `命题` inside `逆否命题`; matching whole tokens does
not. Chinese runs are cut by jieba, everything else into word characters (`CO₂`, `light-dependent`
and `don't` stay whole). Tokens are compared folded: lower case, and an English plural `-s` taken
off (`membranes` matches `membrane`), which is all the stemming the offline rubric needs.

jieba is imported on first use (its dictionary takes about 80 MB and a second to load) under a
lock, since the offline backend runs its heuristics in threads.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from types import ModuleType

_jieba_ready = threading.Lock()
_RUNS = re.compile(
    r"([\u3400-\u9fff\uf900-\ufaff]+)|([^\W_\u3400-\u9fff\uf900-\ufaff]+(?:['’-][^\W_\u3400-\u9fff\uf900-\ufaff]+)*)"
)
_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def jieba() -> ModuleType:
    """The jieba module with its dictionary loaded, quietly, once per process."""
    with _jieba_ready:
        import jieba as loaded
        import jieba.analyse

        loaded.setLogLevel(60)  # its "Building prefix dict" chatter goes nowhere
        loaded.initialize()
    module: ModuleType = loaded
    return module


def fold(word: str) -> str:
    """A token as it is compared: lower case, an English plural `-s`/`-ies` taken off."""
    word = word.lower().replace("’", "'")
    if not word.isascii() or len(word) <= 3:
        return word
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
        return word[:-1]
    return word


@lru_cache(maxsize=1024)
def tokens(text: str) -> tuple[str, ...]:
    """The text's words, folded, in order: jieba's cut of each Chinese run, whole words elsewhere."""
    found: list[str] = []
    for match in _RUNS.finditer(text):
        chinese, other = match.groups()
        if chinese:
            found += jieba().lcut(chinese)
        else:
            found.append(fold(other))
    return tuple(found)


def _glued(words: tuple[str, ...]) -> tuple[str, frozenset[int]]:
    """The words as one string (a space only between two non-Chinese words) and the offsets where words meet."""
    text, edges = "", {0}
    for word in words:
        if text and not _CJK_CHAR.match(text[-1]) and not _CJK_CHAR.match(word[0]):
            text += " "
        text += word
        edges.add(len(text))
        edges.add(len(text) - len(word))
    return text, frozenset(edges)


def mentions(text: str, term: str) -> bool:
    """True when `text` uses `term` as whole tokens, in order.

    jieba may cut a term more finely in one sentence than in another (`同真同假` as `同真同` + `假`),
    so a term is found wherever its characters begin and end on word boundaries of the text. A
    phrase of several non-Chinese words is also found when each of its words occurs as a token
    ("membranes of the thylakoid" says "thylakoid membranes").
    """
    wanted, _ = _glued(tokens(term))
    if not wanted:
        return False
    haystack, edges = _glued(tokens(text))
    start = haystack.find(wanted)
    while start >= 0:
        if start in edges and start + len(wanted) in edges:
            return True
        start = haystack.find(wanted, start + 1)
    words = wanted.split(" ")
    return len(words) > 1 and set(words) <= set(tokens(text))
