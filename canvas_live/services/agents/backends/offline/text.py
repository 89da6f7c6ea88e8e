"""Text analysis for the offline agents: language, sentences, key terms, coverage and copying.

Everything here is deterministic and dependency-free. Key terms come from repetition (an idea
the material keeps returning to), from explicit marks (「…」, “…”, 《…》, **…**) and from definition
patterns ("X is", "X是"); Chinese text has no spaces, so it is cut at punctuation and at a short
list of function characters, and repeated 2-4 character runs inside the pieces become candidates.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])|\n+|(?<=[.])\s+")
_MARKUP = re.compile(r"^[\s#>*\-+\d.、)）]+")
_MARKED = re.compile(
    r"「([^」]{1,20})」|『([^』]{1,20})』|“([^”]{1,20})”|《([^》]{1,20})》|\*\*([^*]{1,30})\*\*|`([^`]{1,30})`"
)
_ZH_DEFINED = re.compile(r"([\u3400-\u9fffA-Za-z0-9]{2,8}?)(?:是指|指的是|就是|定义为|称为|叫做)")
_ZH_CALLED = re.compile(r"(?:称为|叫做|所谓)([\u3400-\u9fffA-Za-z0-9]{2,8})")
_EN_DEFINED = re.compile(
    r"\b(?:called|known as|termed|defined as)\s+(?:an?\s+|the\s+)?([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)?)"
)
_ZH_SPLIT = re.compile(r"[^\u3400-\u9fff]+|[的了是和与及或把被将这那也都就而吗呢吧着其]")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]|[A-Za-z]")

ZH_STOP = _words(
    "一个 一种 一些 我们 你们 他们 它们 因为 所以 如果 那么 但是 然而 而且 并且 或者 以及 通过 可以 就是 还是 这个 "
    "那个 这些 那些 什么 怎么 为什么 如何 进行 其中 非常 比较 之间 由于 对于 关于 已经 没有 不是 不能 需要 之后 之前 "
    "时候 例如 比如 等等 一定 不一定 可能 能够 同时 所有 这样 那样 因此 于是 即使 只要 只有 除了 称为 叫做 指的 "
    "定义 定义为 表示 成为 认为 觉得 知道 理解 解释 问题 内容 东西 方面 情况 部分 一下 之一 某一 每个 一样 利用 过程 "
    "产生 分为 包括 包含 具有 发生 形成 不同 相同 主要 重要 两个 几个 之所以 其他 另外"
)
EN_STOP = _words(
    "a an the and or but if then else when while of to in on at by for with from into onto over under about as is are "
    "was were be been being it its this that these those there here which who whom whose what why how than so such "
    "can could may might must shall should will would do does did done not no nor only also very more most less much "
    "many some any each every all both either neither other another same own just too we you they he she i me my our "
    "your their them his her us one two first second via per etc e.g i.e like unlike because since until without "
    "within between among through during before after above below up down out off again further once whether "
    "have has had having get gets got make makes made use uses used using called known defined termed example "
    "examples thing things way ways called"
)
ANALOGY_MARKERS = (
    "比如", "例如", "举个例子", "举例", "就像", "好比", "好像", "想象", "类似", "比方", "打个比方", "譬如", "像是",
    "for example", "for instance", "e.g.", "such as", "imagine", "like a", "like an", "as if", "similar to",
    "analogy", "picture", "think of",
)  # fmt: skip


def is_chinese(text: str) -> bool:
    """True when the text is mostly Chinese (one character weighs about as much as four letters)."""
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk * 4 >= len(_LATIN.findall(text))


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


def _marked(text: str) -> list[str]:
    found = []
    for match in _MARKED.finditer(text):
        term = next(group for group in match.groups() if group).strip()
        if term:
            found.append(term)
    for pattern in (_ZH_DEFINED, _ZH_CALLED, _EN_DEFINED):
        for match in pattern.finditer(text):
            term = match.group(1).strip()
            if pattern is _ZH_DEFINED:
                term = ([piece for piece in _ZH_SPLIT.split(term) if piece] or [""])[-1]
            if len(term) > 1 and term.lower() not in EN_STOP and term not in ZH_STOP:
                found.append(term)
    return found


def _has_stop_word(run: str) -> bool:
    """True when a short run contains a Chinese stop word (checked by its substrings, not the list)."""
    return any(
        run[start : start + width] in ZH_STOP
        for width in range(2, len(run) + 1)
        for start in range(len(run) - width + 1)
    )


def _zh_candidates(text: str) -> Counter[str]:
    pieces = [piece for piece in _ZH_SPLIT.split(text) if len(piece) >= 2]
    runs: Counter[str] = Counter()
    for piece in pieces:
        for width in (2, 3, 4):
            for start in range(len(piece) - width + 1):
                runs[piece[start : start + width]] += 1
    # A run that occurs exactly as often as a run one character longer only occurs inside it.
    fragments = {
        part for run, count in runs.items() if len(run) > 2 for part in (run[1:], run[:-1]) if runs[part] == count
    }
    candidates: Counter[str] = Counter()
    for run, count in runs.items():
        if count >= 2 and run not in fragments and not _has_stop_word(run):
            candidates[run] = count * len(run)
    for piece in pieces:
        if 2 <= len(piece) <= 4 and piece not in candidates and not _has_stop_word(piece):
            candidates[piece] = 1
    return candidates


def _en_candidates(text: str) -> Counter[str]:
    words = _EN_WORD.findall(text)
    surface: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for index, word in enumerate(words):
        lower = word.lower()
        if lower in EN_STOP or len(lower) < 3:
            continue
        keep_case = word.isupper() or (word[0].isupper() and index > 0 and not _starts_sentence(text, word))
        surface.setdefault(lower, word if keep_case else lower)
        counts[lower] += 1
    candidates: Counter[str] = Counter()
    for lower, count in counts.items():
        candidates[surface[lower]] = count * 8 + min(len(lower), 12)
    pairs = Counter(
        (first.lower(), second.lower())
        for first, second in itertools.pairwise(words)
        if first.lower() not in EN_STOP and second.lower() not in EN_STOP and len(first) > 2 and len(second) > 2
    )
    for (first, second), count in pairs.items():
        if count >= 2:
            candidates[f"{first} {second}"] = count * 12 + 8
    return candidates


def _starts_sentence(text: str, word: str) -> bool:
    # A capital at the start of a sentence says nothing about the word.
    index = text.find(word)
    before = text[:index].rstrip()
    return not before or before[-1] in ".!?。！？\n:："


def key_terms(text: str, limit: int = 7, first: str | None = None) -> list[str]:
    """The most telling terms of `text`, best first, none contained in another; `first` leads if given."""
    candidates: Counter[str] = Counter()
    if is_chinese(text):
        candidates.update(_zh_candidates(text))
        candidates.update({term: score // 4 for term, score in _en_candidates(text).items() if term[:1].isupper()})
    else:
        candidates.update(_en_candidates(text))
    for term in _marked(text):
        candidates[term] += 1000
    opening = (sentences(text) or [""])[0]
    bonus = 6 if is_chinese(text) else 24
    for term in candidates:
        if opening.lower().startswith(term.lower()):
            candidates[term] += bonus  # the subject of the opening sentence is usually the topic
    position = {term: text.find(term) if text.find(term) >= 0 else len(text) for term in candidates}
    ranked = sorted(candidates, key=lambda term: (-candidates[term], position[term], term))
    chosen: list[str] = [first.strip()] if first and first.strip() else []
    for term in ranked:
        if len(chosen) >= limit:
            break
        folded = term.lower()
        if any(folded in other.lower() or other.lower() in folded for other in chosen):
            continue
        chosen.append(term)
    return chosen


def mentions(text: str, term: str) -> bool:
    """True when `text` uses `term` (case-insensitive; for a phrase, every word of it)."""
    folded = text.lower()
    if term.lower() in folded:
        return True
    words = term.lower().split()
    return len(words) > 1 and all(word in folded for word in words)


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
