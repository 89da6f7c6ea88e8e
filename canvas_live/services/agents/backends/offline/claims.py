"""What a text claims, as far as tokens can tell: its clauses, their content words, whether each
is negated, and the kinds of reasoning the text uses.

The offline rubric (`scoring.py`) reads an explanation against its material with these:

- **content words**: tokens (`tokens.py`) that carry meaning, without function words, stop words
  and the negation and connective words below;
- **reasoning kinds**: whether a text states conditions (`if`, `若`, `⇒`), negations (`not`, `不`),
  causes (`because`, `所以`), contrasts (`but`, `但`) or sameness (`same`, `等价`). An
  explanation in the learner's own words ("if it rains the ground gets wet, so a dry ground means
  no rain") may share no word with the material ("若 p 则 q … 若非 q 则非 p") and still reason
  the way it does;
- **contradiction**: a clause of the explanation that says most of a clause of the material (at
  least two of its content words, and two thirds of them, in the same order) but negates what
  that clause affirms, or the reverse: "the total entropy … always decreases" against "… never
  decreases", "它和原命题不一定同真同假" against "原命题与它的逆否命题同真同假", "连续就一定可导"
  against "连续不一定可导".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from canvas_live.services.agents.backends.offline.terms import EN_STOP, ZH_STOP
from canvas_live.services.agents.backends.offline.tokens import fold, tokens
from canvas_live.services.markdown import plain

_CLAUSE_END = re.compile(r"[。！？!?；;，,：:\n]+|(?<=[.])\s+|「|」|“|”|\"")
_WORD = re.compile(r"\w")


def _folded(words: str) -> frozenset[str]:
    return frozenset(fold(word) for word in words.split())


ZH_FUNCTION = frozenset(
    "的了是在和与及或而但就也都还又很更最再把被从对为以之其它他她我你们这那个些会能要可将于着过吗呢吧啊呀嘛么得地所等并且则若如即便因一让给向"
)
"""Single Chinese characters that only hold a sentence together."""

NEGATIONS = _folded(
    "not no never cannot nothing none neither nor without nobody nowhere "
    "不 没 没有 非 无 未 别 不是 不会 不能 不可能 不一定 未必 并非 若非 无法 从不 绝不 永不 不要 不用 不必"
)
"""Negations as tokens come (an English `n't` is read off the word's end, a Chinese `不…`/`没…` off its start)."""
_ZH_NEGATED = re.compile(r"^(?:不(?!过|仅|断|久|少|管|同)|没|未(?!来))")  # 不过 is "but", 未来 "the future"


KINDS: dict[str, frozenset[str]] = {
    "condition": _folded(
        "if when whenever unless once provided 若 如果 假如 假设 只要 只有 一旦 的话 当 若非 则 ⇒ → ⟹"
    ),
    "cause": _folded("because so therefore thus hence since cause causes 因为 所以 因此 由于 导致 使得 于是 从而"),
    "contrast": _folded("but however whereas instead unlike yet although 但 但是 却 然而 反过来 相反 而是"),
    "sameness": _folded("same equal equals equivalent identical means 等价 等于 相同 一样 同一 同样 一回事 即 就是"),
}
"""Words that show a kind of reasoning (negation is the fifth kind, read with `negated`)."""

_SYMBOLS = re.compile(r"[⇒→⟹]")


def negated(words: tuple[str, ...]) -> bool:
    """Whether a clause's tokens include a negation (`not`, `n't`, `never`, `不`, `没`, `非`, …)."""
    return any(word in NEGATIONS or word.endswith("n't") or _ZH_NEGATED.match(word) for word in words)


def is_content(word: str) -> bool:
    """Whether a token carries meaning: not punctuation, a stop or function word, a negation or a connective."""
    if not _WORD.search(word) or word in EN_STOP or word in ZH_STOP or word in ZH_FUNCTION or word in NEGATIONS:
        return False
    return not any(word in kind for kind in KINDS.values())


def content_words(text: str) -> list[str]:
    """The content words of a text, in order, folded (see `tokens.fold`)."""
    return [word for word in tokens(plain(text)) if is_content(word)]


def kinds(text: str) -> frozenset[str]:
    """The kinds of reasoning a text uses: condition, negation, cause, contrast, sameness."""
    words = tokens(plain(text))
    found = {kind for kind, markers in KINDS.items() if any(word in markers for word in words)}
    if _SYMBOLS.search(text):
        found.add("condition")
    if negated(words):
        found.add("negation")
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class Clause:
    """One clause: its content words in order, and whether it is negated."""

    text: str
    words: tuple[str, ...]
    negated: bool


@lru_cache(maxsize=256)
def clauses(text: str) -> tuple[Clause, ...]:
    """The text cut at punctuation into clauses that say something."""
    found = []
    for part in _CLAUSE_END.split(plain(text)):
        words = tokens(part)
        meaningful = tuple(word for word in words if is_content(word))
        if meaningful:
            found.append(Clause(part.strip(), meaningful, negated(words)))
    return tuple(found)


def _restating(answer: Clause, source: Clause) -> tuple[int, float] | None:
    """How closely an answer clause says a material clause, or None when it does not say most of it.

    It must have at least two of the material clause's content words (single letters such as p and
    q do not count: every clause about them has them), two thirds of them, in the same order. The
    closeness is the number of those words, then their share of the material clause.
    """
    shared = [word for word in dict.fromkeys(answer.words) if word in source.words and len(word) > 1]
    wanted = [word for word in dict.fromkeys(source.words) if len(word) > 1]
    if len(shared) < 2 or 3 * len(shared) < 2 * len(wanted) or shared != [w for w in wanted if w in shared]:
        return None
    return len(shared), len(shared) / len(wanted)


def contradictions(answer: str, material: str) -> list[str]:
    """The clauses of `answer` whose closest clause in the material (see `_restating`) has the
    opposite polarity: the answer negates what the material affirms, or affirms what it negates."""
    sources = clauses(material)
    found = []
    for clause in clauses(answer):
        ranked = [(closeness, source) for source in sources if (closeness := _restating(clause, source))]
        if ranked and max(ranked, key=lambda item: item[0])[1].negated != clause.negated:
            found.append(clause.text)
    return found
