"""Offline question writers: basic and deep decomposition, and review-canvas questions.

The questions are built from the material's key terms (see `text.key_terms`), one question type
per term in a fixed order that climbs from definition to application. Deep decomposition first asks
about the terms the learner's own explanation leaves out, so its questions point at real gaps. Each
question carries as guidance the sentence of the material where its term first appears.
"""

from __future__ import annotations

from canvas_live.services.agents.backends.offline.text import (
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
        "When would you use {term}, and what problem does it solve?",
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
        "Without looking at the material, state the core idea of {term}.",
    ),
    "explain": (
        "为什么说「{term}」很重要？它解决了什么问题？",
        "Why {does} {term} matter? Which problem {does} {term} solve?",
    ),
    "apply": ("设计一个新情境，在其中运用「{term}」。", "Make up a new situation in which you would apply {term}."),
}
GUIDANCE = ("提示：从材料中的这句话入手：{sentence}", "Hint: start from this sentence in the material: {sentence}")
YELLOW_GUIDANCE = ("提示：对照你写过的解释：{sentence}", "Hint: compare with what you wrote: {sentence}")

BASIC_PLAN = ("definition", "mechanism", "example", "comparison", "application", "definition", "example")
DEEP_PLAN = ("boundary", "comparison", "application", "misconception", "mechanism")


def _say(kind: str, chinese: bool, **values: str) -> str:
    plural = _plural(values.get("term", ""))
    grammar = {"be": "are" if plural else "is", "does": "do" if plural else "does"}
    return TEMPLATES[kind][0 if chinese else 1].format(**grammar, **values)


def _plural(term: str) -> bool:
    """Whether an English term is a plural ("light reactions"), for the verb that goes with it."""
    last = term.split()[-1] if term.split() else ""
    return last.islower() and last.endswith("s") and not last.endswith(("ss", "us", "is"))


def _guidance(material: str, term: str, chinese: bool) -> str | None:
    """The first sentence of the material that says something about `term` (a heading only names it)."""
    saying = (line for line in sentences(material) if mentions(line, term) and len(line) > len(term) + 4)
    sentence = next(saying, None) or sentence_with(material, term)
    if sentence is None:
        return None
    return GUIDANCE[0 if chinese else 1].format(sentence=shorten(sentence, 60 if chinese else 110))


def _topic_of(material: str, topic: str | None) -> str:
    if topic and topic.strip():
        return topic.strip()
    terms = key_terms(material, limit=1)
    return terms[0] if terms else shorten(material, 20)


def basic_decomposition(data: DecompositionInput) -> DecompositionOutput:
    """3-5 questions from definition to application, one key term each."""
    material = data.material_content
    chinese = is_chinese(material)
    terms = key_terms(material, limit=5, first=data.topic)
    while len(terms) < 3:
        terms.append(_topic_of(material, data.topic))
    questions = []
    for index, term in enumerate(terms):
        kind = BASIC_PLAN[index]
        other = terms[0] if index else terms[-1]
        questions.append(
            SubQuestion(
                text=_say(kind, chinese, term=term, other=other),
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
            text=_say("gap", chinese, term=term, topic=topic),
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
                text=_say(kind, chinese, term=term, other=other),
                type=kind,
                difficulty="hard" if kind in ("boundary", "misconception") else "medium",
                guidance=_yellow_guidance(understanding, term, chinese) or _guidance(material, term, chinese),
            )
        )
    return DecompositionOutput(questions)


def _yellow_guidance(understanding: str, term: str, chinese: bool) -> str | None:
    sentence = sentence_with(understanding, term)
    if sentence is None:
        return None
    return YELLOW_GUIDANCE[0 if chinese else 1].format(sentence=shorten(sentence, 60 if chinese else 110))


def _node_questions(node: VerificationNode) -> list[VerificationQuestion]:
    chinese = is_chinese(node.content)
    context = node.content if not node.parent_content else f"{node.content}\n{node.parent_content}"
    terms = key_terms(node.content, limit=4) or [
        shorten(sentences(node.content)[0] if sentences(node.content) else node.content, 20)
    ]
    yellow = "\n".join(node.related_yellow)
    if node.state == "red":
        plan = [("recall", terms[0], "easy")]
        if len(terms) > 1:
            plan.append(("explain", terms[1], "medium"))
    else:
        gaps = [term for term in terms if not mentions(yellow, term)] if yellow.strip() else []
        focus = gaps[0] if gaps else terms[0]
        plan = [("apply", focus, "medium"), ("boundary", terms[0], "hard")]
        if len(terms) > 1:
            plan.append(("compare", terms[1], "hard"))
    questions = []
    for kind, term, difficulty in plan:
        other = next((candidate for candidate in terms if candidate != term), _topic_of(context, None))
        template = "comparison" if kind == "compare" else kind
        questions.append(
            VerificationQuestion(
                source_node_id=node.id,
                question_text=_say(template, chinese, term=term, other=other),
                question_type=kind,
                difficulty=difficulty,  # type: ignore[arg-type]
                guidance=_guidance(context, term, chinese),
            )
        )
    return questions


def verification_questions(data: VerificationInput) -> VerificationOutput:
    """1-2 recall questions per red node, 2-3 application/boundary questions per purple node."""
    return VerificationOutput([question for node in data.nodes for question in _node_questions(node)])
