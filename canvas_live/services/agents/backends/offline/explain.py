"""Offline explanations in the six styles, assembled from the material's own sentences.

Without a model nothing new can be said, so each style rearranges what the material says: the
sentence that defines the concept, the sentences that carry its key terms, the ones that give
examples or conditions, and (when the learner wrote one) what their explanation covers or misses.
Every style ends by handing the work back to the learner (a question, a cue, an invitation).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from canvas_live.services.agents.backends.offline.text import (
    ANALOGY_MARKERS,
    body,
    is_chinese,
    key_terms,
    mentions,
    sentence_with,
    sentences,
    shorten,
)
from canvas_live.services.agents.schemas import ExplainInput

_CONDITION = re.compile(
    r"如果|假如|只有|除非|不一定|当且仅当|前提|条件|\bif\b|\bunless\b|\bonly\b|\bprovided\b|\bnot\b", re.I
)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What the material says about the concept, sorted by the role each sentence plays."""

    zh: bool
    concept: str
    definition: str
    points: list[tuple[str, str]]
    examples: list[str]
    conditions: list[str]
    covered: list[str]
    missing: list[str]

    def say(self, chinese: str, english: str) -> str:
        """The text in the material's language."""
        return chinese if self.zh else english

    def quote(self, term: str) -> str:
        """A term marked the way its language marks terms."""
        return f"「{term}」" if self.zh else f"*{term}*"


def _facts(data: ExplainInput) -> _Facts:
    material = (data.material_content or "").strip()
    concept = data.concept.strip()
    zh = is_chinese(concept + material)
    all_sentences = sentences(body(material)) or sentences(material)
    definition = sentence_with(body(material), concept) or (all_sentences[0] if all_sentences else "")
    terms = [term for term in key_terms(material, limit=6) if term.lower() != concept.lower()][:4]
    examples = [s for s in all_sentences if any(marker in s.lower() for marker in ANALOGY_MARKERS)]
    conditions = [s for s in all_sentences if _CONDITION.search(s) and s != definition]
    used = {definition, *examples[:1], *conditions[:1]}
    points = [(term, sentence_with(material, term, used) or "") for term in terms]
    understanding = data.user_understanding or ""
    covered = [term for term in terms if understanding and mentions(understanding, term)]
    missing = [term for term in terms if understanding and term not in covered]
    return _Facts(zh, concept, definition, points, examples[:3], conditions[:3], covered, missing)


def _learner_note(f: _Facts) -> list[str]:
    lines = []
    if f.covered:
        listed = "、".join(map(f.quote, f.covered)) if f.zh else ", ".join(map(f.quote, f.covered))
        lines.append(f.say(f"你的理解已经抓住了{listed}。", f"Your explanation already covers {listed}."))
    if f.missing:
        listed = "、".join(map(f.quote, f.missing)) if f.zh else ", ".join(map(f.quote, f.missing))
        lines.append(f.say(f"还可以补上{listed}。", f"It could still bring in {listed}."))
    return lines


def _point_lines(f: _Facts, limit: int = 4) -> list[str]:
    width = 70 if f.zh else 140
    said = [f"- **{term}**: {shorten(sentence, width)}" for term, sentence in f.points[:limit] if sentence]
    return said or [f"- **{term}**" for term, _ in f.points[:limit]]


def oral(data: ExplainInput) -> str:
    """A conversational explanation: the point first, then the pieces, then a line to repeat."""
    f = _facts(data)
    core = shorten(f.definition, 80 if f.zh else 160) if f.definition else f.concept
    lines = [f.say(f"## 用大白话说{f.quote(f.concept)}", f"## {f.concept}, in plain words"), ""]
    lines.append(f.say(f"先说结论：{core}", f"The short version: {core}"))
    if f.points:
        lines += ["", f.say("它主要牵涉到这几件事：", "It comes down to a few things:"), *_point_lines(f)]
    if f.examples:
        lines += ["", f.say(f"打个比方：{f.examples[0]}", f"Picture it like this: {f.examples[0]}")]
    else:
        lines += [
            "",
            f.say("想一想：生活里有什么事情和它很像？", "Think of something in everyday life that works the same way."),
        ]
    lines += ["", *_learner_note(f)] if _learner_note(f) else []
    lines += [
        "",
        f.say(f"**一句话记住**：{f.quote(f.concept)}——{core}", f"**One line to remember**: {f.concept} - {core}"),
    ]
    return "\n".join(lines).strip()


def clarification(data: ExplainInput) -> str:
    """What it is, what it is not, where the confusion comes from, and two checks."""
    f = _facts(data)
    others = [term for term, _ in f.points[:3]]
    lines = [f.say(f"## 澄清{f.quote(f.concept)}", f"## Clearing up {f.concept}"), ""]
    lines += [f.say("**它是什么**", "**What it is**"), f.definition or f.concept, ""]
    lines.append(f.say("**它不是什么**", "**What it is not**"))
    for term in others:
        lines.append(
            f.say(
                f"- {f.quote(f.concept)}不等于{f.quote(term)}，{f.quote(term)}只是其中的一部分或相关概念。",
                f"- {f.concept} is not the same as {term}; {term} is a part of it or a neighbouring idea.",
            )
        )
    if not others:
        lines.append(
            f.say("- 不要把它和名字相近的概念混为一谈。", "- Do not mix it up with ideas that have similar names.")
        )
    lines += ["", f.say("**混淆从哪里来**", "**Where the confusion comes from**")]
    lines += _learner_note(f) or [
        f.say(
            f"最常见的混淆是只记住了名字，却说不出{f.quote(f.concept)}成立的条件。",
            f"The usual confusion is knowing the name of {f.concept} without the conditions under which it holds.",
        )
    ]
    lines += [f"- {shorten(condition, 80 if f.zh else 160)}" for condition in f.conditions]
    lines += ["", f.say("**自我检查**", "**Check yourself**")]
    lines.append(
        f.say(
            f"1. 不看材料，用两句话说出{f.quote(f.concept)}是什么。",
            f"1. Without the material, say what {f.concept} is in two sentences.",
        )
    )
    second = others[0] if others else f.concept
    lines.append(
        f.say(
            f"2. {f.quote(f.concept)}和{f.quote(second)}的区别是什么？", f"2. What separates {f.concept} from {second}?"
        )
    )
    return "\n".join(lines).strip()


def comparison(data: ExplainInput) -> str:
    """The concept beside its closest neighbours in a table, then the difference that matters."""
    f = _facts(data)
    neighbours = f.points[:2]
    header = [f.concept, *(term for term, _ in neighbours)]
    said = [f.definition, *(sentence for _, sentence in neighbours)]
    width = 50 if f.zh else 90
    lines = [f.say(f"## {f.quote(f.concept)}和相关概念的对比", f"## {f.concept} compared"), ""]
    lines.append(f.definition or f.concept)
    lines += ["", "| | " + " | ".join(header) + " |", "|---" * (len(header) + 1) + "|"]
    lines.append(
        f.say("| 材料中的说法 | ", "| What the material says | ")
        + " | ".join(shorten(s, width) or "-" for s in said)
        + " |"
    )
    lines.append(
        f.say("| 是否在你的解释中 | ", "| In your explanation | ")
        + " | ".join(("✓" if term in f.covered else "-") for term in header)
        + " |"
    )
    if neighbours:
        other = neighbours[0][0]
        lines.append("")
        lines.append(
            f.say(
                f"**最关键的区别**：先问自己{f.quote(f.concept)}和{f.quote(other)}各自回答的是什么问题。",
                f"**The difference that matters**: ask which question {f.concept} answers, and which {other} does.",
            )
        )
    return "\n".join(lines).strip()


def memory_anchor(data: ExplainInput) -> str:
    """A core sentence, a picture, a mnemonic from the key terms, a short story and a recall cue."""
    f = _facts(data)
    terms = [f.concept, *(term for term, _ in f.points[:3])]
    mnemonic = "".join(term[0] for term in terms) if f.zh else "".join(term[0].upper() for term in terms)
    core = shorten(f.definition, 60 if f.zh else 120) or f.concept
    lines = [f.say(f"## 记住{f.quote(f.concept)}", f"## Anchoring {f.concept}"), ""]
    lines.append(f.say(f"**核心一句**：{core}", f"**Core idea**: {core}"))
    cast_zh = "、".join(map(f.quote, terms[1:])) or "配角们"
    cast_en = ", ".join(terms[1:]) or "its helpers"
    lines.append(
        f.say(
            f"**画面**：想象{f.quote(terms[0])}是舞台中央的主角，{cast_zh}依次登场帮它完成任务。",
            f"**Picture**: imagine {terms[0]} on a stage, with {cast_en} walking on one by one to help it.",
        )
    )
    lines.append(
        f.say(f"**口诀**：「{mnemonic}」——{'、'.join(terms)}", f"**Mnemonic**: {mnemonic} - {', '.join(terms)}")
    )
    story = [sentence for _, sentence in f.points[:3] if sentence]
    if story:
        lines.append(f.say("**小故事**：", "**Story**: ") + (" → ".join(shorten(s, 40 if f.zh else 80) for s in story)))
    lines.append(
        f.say(
            f"**一周后问自己**：不看任何资料，{f.quote(f.concept)}的口诀「{mnemonic}」分别代表什么？",
            f"**In a week, ask yourself**: without notes, what does each letter of {mnemonic} stand for?",
        )
    )
    return "\n".join(lines).strip()


def four_level(data: ExplainInput) -> str:
    """The concept at four depths, and which level the learner's explanation reaches."""
    f = _facts(data)
    first_clause = re.split(r"[，,;；:：]", f.definition)[0].rstrip("。.")
    short = shorten(first_clause, 40 if f.zh else 90) if first_clause else f.concept
    lines = [f.say(f"## 四个层次理解{f.quote(f.concept)}", f"## {f.concept} at four levels"), ""]
    lines += [f.say("**第 1 层 · 小朋友**", "**Level 1 - a child**"), short, ""]
    lines += [f.say("**第 2 层 · 初学者**", "**Level 2 - a beginner**"), f.definition or f.concept]
    if f.examples:
        lines.append(f.say(f"例子：{f.examples[0]}", f"Example: {f.examples[0]}"))
    lines += ["", f.say("**第 3 层 · 学生**", "**Level 3 - a student**"), *(_point_lines(f) or [f.concept])]
    lines += ["", f.say("**第 4 层 · 专家**", "**Level 4 - an expert**")]
    lines += [f"- {shorten(condition, 80 if f.zh else 160)}" for condition in f.conditions] or [
        f.say(
            "- 追问它在什么条件下不成立，以及它和相邻概念怎样衔接。",
            "- Ask where it stops holding, and how it joins its neighbouring ideas.",
        )
    ]
    if data.user_understanding:
        reached = 1 + round(3 * len(f.covered) / len(f.points)) if f.points else 2
        lines += ["", f.say(f"你现在的解释大约在第 {reached} 层。", f"Your explanation is at about level {reached}.")]
        lines += _learner_note(f)
    return "\n".join(lines).strip()


def example(data: ExplainInput) -> str:
    """Three examples, simplest to trickiest, then an invitation to make up a fourth."""
    f = _facts(data)
    lines = [f.say(f"## 用例子理解{f.quote(f.concept)}", f"## {f.concept} through examples"), ""]
    simplest = f.examples[0] if f.examples else f.definition or f.concept
    lines += [f.say("**例 1 · 最简单的情形**", "**Example 1 - the simplest case**"), simplest, ""]
    realistic = f.examples[1] if len(f.examples) > 1 else next((s for _, s in f.points if s and s != simplest), "")
    lines.append(f.say("**例 2 · 真实的情形**", "**Example 2 - a realistic case**"))
    lines.append(
        realistic
        or f.say(
            f"想一个你身边用得上{f.quote(f.concept)}的场景。",
            f"Think of a situation around you where {f.concept} applies.",
        )
    )
    lines += ["", f.say("**例 3 · 容易出错的情形**", "**Example 3 - a tricky case**")]
    tricky = f.say(
        f"找一个看起来像、其实不是{f.quote(f.concept)}的情形，说明差在哪里。",
        f"Find a case that looks like {f.concept} but is not, and say what is missing.",
    )
    lines.append(f.conditions[0] if f.conditions else tricky)
    lines += ["", f.say("现在轮到你：自己编一个第 4 个例子。", "Your turn: make up a fourth example of your own.")]
    return "\n".join(lines).strip()


STYLES: dict[str, Callable[[ExplainInput], str]] = {
    "oral": oral,
    "clarification": clarification,
    "comparison": comparison,
    "memory-anchor": memory_anchor,
    "four-level": four_level,
    "example": example,
}
