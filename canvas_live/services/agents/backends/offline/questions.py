"""Offline question writers: basic and deep decomposition, and review-canvas questions.

The questions are built from the material's key terms (see `terms.key_terms`: noun phrases of the
material, never a colour, a generic word alone or Markdown), one question type per term in a fixed
order that climbs from definition to application. Deep decomposition first asks about the terms
the learner's own explanation leaves out, so its questions point at real gaps. Material with no
term at all (an instruction, a formula) is asked about sentence by sentence instead, and a node
that is itself a question is first asked back as it stands. Each question carries as guidance the
sentence of the material where its term first appears, without Markdown and without a label: the
workflow that shows it adds "Hint:" / "提示：" once.

English templates put the article the material uses before a term ("a charger", "the Calvin
cycle"); a phrase of several words that the material never writes with one takes "the".
"""

from __future__ import annotations

import re

from canvas_live.services.agents.backends.offline.text import (
    body,
    is_chinese,
    key_terms,
    mentions,
    sentence_with,
    sentences,
    shorten,
)
from canvas_live.services.agents.schemas import (
    DecompositionInput,
    DecompositionOutput,
    DeepDecompositionInput,
    SubQuestion,
    VerificationInput,
    VerificationNode,
    VerificationOutput,
    VerificationQuestion,
)
from canvas_live.services.markdown import plain

TEMPLATES: dict[str, tuple[str, str]] = {
    "definition": ("用你自己的话说，「{term}」是什么？", "In your own words, what {be} {term}?"),
    "mechanism": ("「{term}」是怎样起作用的？为什么会这样？", "How {does} {term} work, and why?"),
    "example": ("举一个生活中的例子来说明「{term}」。", "Give an everyday example of {term}."),
    "comparison": (
        "「{term}」和「{other}」有什么区别和联系？",
        "How are {term} and {other} different, and how are they related?",
    ),
    "application": (
        "在什么情况下会用到「{term}」？用它能解决什么问题？",
        "When would you use {term}, and what problem {does_it} solve?",
    ),
    "gap": (
        "你的解释没有提到「{term}」。它在「{topic}」中起什么作用？",
        "Your explanation does not mention {term}. What role does it play in {topic}?",
    ),
    "boundary": (
        "「{term}」在什么条件下不成立，或者容易被误解？",
        "Under what conditions {does} {term} stop holding, or get misunderstood?",
    ),
    "misconception": (
        "关于「{term}」，最常见的误解是什么？为什么它是错的？",
        "What is the most common misconception about {term}, and why is it wrong?",
    ),
    "recall": (
        "不看材料，说出「{term}」的核心意思。",
        "Without looking at the material, say what {term} {be} and what {it_does}.",
    ),
    "explain": (
        "为什么说「{term}」很重要？它解决了什么问题？",
        "What part {does} {term} play, and what would be missing without {it}?",
    ),
    "apply": ("设计一个新情境，在其中运用「{term}」。", "Make up a new situation in which you would apply {term}."),
    "answer": ("不看材料，回答这个问题：{sentence}", "Without looking at the material, answer: {sentence}"),
    "restate": ("用你自己的话解释这句话：{sentence}", "Explain in your own words: {sentence}"),
    "instance": ("举一个生活中的例子来说明这句话：{sentence}", "Give an everyday example of this: {sentence}"),
    "limit": ("这句话在什么情况下不成立？{sentence}", "When would this not hold? {sentence}"),
}
GUIDANCE = ("从材料中的这句话入手：{sentence}", "Start from this sentence in the material: {sentence}")
YELLOW_GUIDANCE = ("对照你写过的解释：{sentence}", "Compare with what you wrote: {sentence}")

BASIC_PLAN = ("definition", "mechanism", "example", "comparison", "application", "definition", "example")
DEEP_PLAN = ("boundary", "comparison", "application", "misconception", "mechanism")
SENTENCE_PLAN = ("restate", "instance", "limit")
"""What is asked about each sentence of material that has no term to ask about."""

_QUESTION = re.compile(r"[?？]\s*$")


def _say(kind: str, chinese: bool, material: str = "", **values: str) -> str:
    """A template filled in: terms with the article the material gives them, verbs that agree with them."""
    if chinese:
        return TEMPLATES[kind][0].format(**values)
    term = values.get("term", "")
    plural = _plural(term)
    grammar = {
        "be": "are" if plural else "is",
        "does": "do" if plural else "does",
        "does_it": "do they" if plural else "does it",
        "it_does": "they do" if plural else "it does",
        "it": "them" if plural else "it",
    }
    named = {slot: _with_article(value, material) for slot, value in values.items() if slot in ("term", "other")}
    return TEMPLATES[kind][1].format(**grammar, **{**values, **named})


def _plural(term: str) -> bool:
    """Whether an English term is a plural ("light reactions"), for the verb that goes with it."""
    last = term.split()[-1] if term.split() else ""
    return last.islower() and last.endswith("s") and not last.endswith(("ss", "us", "is"))


def _with_article(term: str, material: str) -> str:
    """The term with the article the material puts before it ("a charger", "the Calvin cycle"), if any.

    Without one in the material, a singular phrase of several words takes "the"; a single word
    (often a mass noun or a name: "oxygen", "ATP"), a plural or an acronym stays bare.
    """
    found = re.findall(rf"\b(the|an?)\s+{re.escape(term)}(?![\w-])", material, re.I)
    if found:
        article = max(set(found), key=found.count).lower()
        return f"{'an' if article != 'the' and term[:1].lower() in 'aeiou' else article} {term}"
    if " " in term and not _plural(term) and not term.split()[0].isupper():
        return f"the {term}"
    return term


def _guidance(material: str, term: str, chinese: bool) -> str | None:
    """The first sentence of the material's body that says something about `term`, else its first
    sentence: a heading only names the term, it says nothing about it."""
    said = [line for line in sentences(plain(body(material))) if len(line) > 2]
    saying = (line for line in said if mentions(line, term) and len(line) > len(term) + 4)
    sentence = next(saying, None) or next(iter(said), None) or sentence_with(plain(material), term)
    if sentence is None:
        return None
    return GUIDANCE[0 if chinese else 1].format(sentence=shorten(sentence, 60 if chinese else 110))


def _topic_of(material: str, topic: str | None) -> str:
    """What the material is about: the given topic, its first term, else its first words."""
    if topic and plain(topic).strip():
        return " ".join(plain(topic).split())
    terms = key_terms(material, limit=1)
    return terms[0] if terms else shorten(plain(material), 20)


def _said(material: str) -> list[str]:
    """The material's sentences that say something (not a bare heading), without Markdown."""
    said = [sentence for sentence in sentences(plain(material)) if len(sentence.split()) > 2 or len(sentence) > 8]
    return said or [shorten(" ".join(plain(material).split()), 80)]


def _by_sentence(material: str, chinese: bool) -> list[SubQuestion]:
    """3 questions about the material's own sentences, for material with no term to ask about."""
    said = _said(material)
    return [
        SubQuestion(
            text=_say(kind, chinese, sentence=shorten(said[index % len(said)], 80 if chinese else 160)),
            type=kind,
            difficulty="easy" if index == 0 else "medium",
        )
        for index, kind in enumerate(SENTENCE_PLAN)
    ]


def basic_decomposition(data: DecompositionInput) -> DecompositionOutput:
    """3-5 questions from definition to application, one key term each."""
    material = data.material_content
    chinese = is_chinese(material)
    terms = key_terms(material, limit=5, first=data.topic)
    if not terms:
        return DecompositionOutput(_by_sentence(material, chinese))
    while len(terms) < 3:
        terms.append(terms[len(terms) % len(terms)])
    questions = []
    for index, term in enumerate(terms):
        kind = BASIC_PLAN[index]
        other = next((candidate for candidate in terms if candidate != term), "")
        if kind == "comparison" and not other:
            kind = "application"
        questions.append(
            SubQuestion(
                text=_say(kind, chinese, material, term=term, other=other),
                type=kind,
                difficulty="easy" if index < 2 else "medium",
                guidance=_guidance(material, term, chinese),
            )
        )
    return DecompositionOutput(questions)


def deep_decomposition(data: DeepDecompositionInput) -> DecompositionOutput:
    """4-7 questions: first the terms the learner's explanation misses, then boundaries and transfer."""
    material = data.material_content
    understanding = data.user_understanding
    chinese = is_chinese(material)
    topic = _topic_of(material, data.topic)
    terms = key_terms(material, limit=7)
    missing = [term for term in terms if not mentions(understanding, term) and term != topic][:3]
    known = [term for term in terms if term not in missing] or [topic]
    questions = [
        SubQuestion(
            text=_say("gap", chinese, material, term=term, topic=topic),
            type="gap",
            difficulty="medium",
            guidance=_guidance(material, term, chinese),
        )
        for term in missing
    ]
    for index, kind in enumerate(DEEP_PLAN):
        if len(questions) >= 7 or (len(questions) >= 4 and index >= 3):
            break
        term = known[index % len(known)]
        other = next((candidate for candidate in terms if candidate != term), topic)
        questions.append(
            SubQuestion(
                text=_say(kind, chinese, material, term=term, other=other),
                type=kind,
                difficulty="hard" if kind in ("boundary", "misconception") else "medium",
                guidance=_yellow_guidance(understanding, term, chinese) or _guidance(material, term, chinese),
            )
        )
    return DecompositionOutput(questions)


def _yellow_guidance(understanding: str, term: str, chinese: bool) -> str | None:
    sentence = sentence_with(plain(understanding), term)
    if sentence is None:
        return None
    return YELLOW_GUIDANCE[0 if chinese else 1].format(sentence=shorten(sentence, 60 if chinese else 110))


def _node_questions(node: VerificationNode) -> list[VerificationQuestion]:
    """1-2 questions about a red node, 2-3 about a purple one; a node that is a question is asked back first."""
    chinese = is_chinese(node.content)
    context = node.content if not node.parent_content else f"{node.content}\n{node.parent_content}"
    terms = key_terms(node.content, limit=4)
    asked = [sentence for sentence in sentences(plain(node.content)) if _QUESTION.search(sentence)]
    plan: list[tuple[str, str, str]] = [("answer", " ".join(asked), "easy")] if asked else []
    yellow = "\n".join(node.related_yellow)
    if node.state == "red":  # recall the first term (unless the question was asked back), explain the next
        kinds = [("explain", "medium")] if asked else [("recall", "easy"), ("explain", "medium")]
        plan += [(kind, term, difficulty) for (kind, difficulty), term in zip(kinds, terms, strict=False)]
    else:
        gaps = [term for term in terms if not mentions(yellow, term)] if yellow.strip() else []
        plan += [("apply", term, "medium") for term in (gaps or terms)[:1]]
        plan += [("boundary", term, "hard") for term in terms[:1]]
        plan += [("compare", term, "hard") for term in terms[1:2] if len(plan) < 3]
    if not plan:  # nothing but statements without a term: ask about the statements themselves
        said = _said(node.content)
        plan = [(kind, said[index % len(said)], "easy" if index == 0 else "medium")
                for index, kind in enumerate(SENTENCE_PLAN[: 1 if node.state == "red" else 2])]  # fmt: skip
    questions = []
    for kind, subject, difficulty in plan:
        if kind in TEMPLATES and "{sentence}" in TEMPLATES[kind][1]:
            width = 80 if chinese else 160
            text = _say(kind, chinese, sentence=shorten(subject, width))
            guidance = None
        else:
            other = next((candidate for candidate in terms if candidate != subject), _topic_of(context, None))
            text = _say("comparison" if kind == "compare" else kind, chinese, context, term=subject, other=other)
            guidance = _guidance(context, subject, chinese)
        questions.append(
            VerificationQuestion(
                source_node_id=node.id,
                question_text=text,
                question_type=kind,
                difficulty=difficulty,  # type: ignore[arg-type]
                guidance=guidance,
            )
        )
    return questions[: 2 if node.state == "red" else 3]


def verification_questions(data: VerificationInput) -> VerificationOutput:
    """1-2 recall questions per red node, 2-3 application/boundary questions per purple node."""
    return VerificationOutput([question for node in data.nodes for question in _node_questions(node)])
