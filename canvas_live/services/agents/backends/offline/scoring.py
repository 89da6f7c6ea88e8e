"""Offline rubric scoring of a learner's explanation: an estimate read off the words, not a judgement.

Without a model nothing can tell whether an explanation is right; what can be read is how it
relates to the question and its material. The rubric is built from that, every part explainable:

- **terms**: the key terms of the question and of the material (`terms.key_terms`), found in the
  answer as whole tokens (`tokens.mentions`: `CO₂` does not say `O₂`). A term counts when the
  answer says something about it in the material's words (another content word of the material in
  the same sentence); a term only named counts for nothing, since naming is not explaining;
- **relation**: the share of the answer's content words (`claims.content_words`) that the question
  and material use, and the kinds of reasoning (conditions, negations, causes, contrasts, sameness)
  it shares with the material, which is what an explanation by analogy keeps;
- **length** against a full answer (about 40 words, or 80 Chinese characters);
- **examples**: example and analogy markers ("比如", "就像", "for example", "imagine", …);
- **copying**: the share of the answer found verbatim in the material;
- **contradiction**: a clause that restates one of the material's with the opposite polarity
  (`claims.contradictions`) takes away accuracy and most of the rest.

The four dimensions, 0-25 each: accuracy from the terms and the relation; completeness from the
length, as far as the answer is related; imagery from the examples, as far as it is related;
originality from what is not copied, as far as it is related. An answer about something else
scores near 0 whatever its length. Empty and placeholder answers are not scored at all
(`placeholders.unanswered`).
"""

from __future__ import annotations

from dataclasses import dataclass

from canvas_live.services.agents.backends.offline.claims import content_words, contradictions, kinds
from canvas_live.services.agents.backends.offline.text import (
    analogy_count,
    copied_ratio,
    is_chinese,
    key_terms,
    mentions,
    sentences,
    size,
)
from canvas_live.services.agents.backends.offline.tokens import tokens
from canvas_live.services.agents.placeholders import REASONS, unanswered
from canvas_live.services.agents.schemas import Breakdown, ColorAction, ScoringInput, ScoringOutput

FULL_ANSWER = 40
"""Words (or two Chinese characters each) a complete explanation usually needs."""
CONTRADICTED = 0.3
"""What is left of completeness, imagery and originality when the answer contradicts the material."""


@dataclass(frozen=True, slots=True)
class Reading:
    """What the rubric reads off an answer against its question and material."""

    covered: list[str]
    named: list[str]
    missing: list[str]
    coverage: float
    relation: float
    length: int
    examples: int
    copied: float
    contradicted: list[str]


def _terms(data: ScoringInput) -> list[str]:
    """The question's terms, then the material's that are not already among them."""
    material = data.reference_material or ""
    terms = key_terms(data.question_text, limit=3 if material else 6)
    for term in key_terms(material, limit=6):
        if not any(mentions(other, term) or mentions(term, other) for other in terms):
            terms.append(term)
    return terms


def read(data: ScoringInput) -> Reading:
    """The rubric's view of an answer: what it covers, how it relates, how long, how concrete, how copied."""
    answer = data.user_understanding
    reference = f"{data.question_text}\n{data.reference_material or ''}"
    known = set(content_words(reference))
    covered, named = [], []
    terms = _terms(data)
    for term in terms:
        own = set(tokens(term))
        saying = [sentence for sentence in sentences(answer) if mentions(sentence, term)]
        if any(known & (set(content_words(sentence)) - own) for sentence in saying):
            covered.append(term)
        elif saying:
            named.append(term)
    words = content_words(answer)
    overlap = sum(word in known for word in words) / len(words) if words else 0.0
    wanted = kinds(reference)
    shared_kinds = len(kinds(answer) & wanted) / len(wanted) if wanted else 0.0
    coverage = len(covered) / len(terms) if terms else overlap
    return Reading(
        covered=covered,
        named=named,
        missing=[term for term in terms if term not in covered and term not in named],
        coverage=coverage,
        relation=min(1.0, coverage + overlap + shared_kinds / 3),
        length=size(answer),
        examples=analogy_count(answer),
        copied=copied_ratio(answer, reference),
        contradicted=contradictions(answer, reference),
    )


def _breakdown(reading: Reading) -> Breakdown:
    related = reading.relation * (CONTRADICTED if reading.contradicted else 1.0)
    accuracy = 0.0 if reading.contradicted else min(1.0, reading.coverage + reading.relation / 2)
    imagery = 1.0 if reading.examples >= 2 else 0.7 if reading.examples == 1 else min(0.3, reading.length / 100)
    return Breakdown(
        accuracy=round(25 * accuracy * min(1.0, reading.length / 12)),
        imagery=round(25 * imagery * related),
        completeness=round(25 * min(1.0, reading.length / FULL_ANSWER) * related),
        originality=round(25 * (1 - reading.copied) * min(1.0, reading.length / 20) * related),
    )


def _feedback(chinese: bool, reading: Reading) -> str:
    def listed(terms: list[str]) -> str:
        return "、".join(f"「{term}」" for term in terms[:3]) if chinese else ", ".join(terms[:3])

    lines = []
    if reading.contradicted:
        clause = reading.contradicted[0]
        lines.append(
            f"「{clause}」和材料说的正好相反，再对照材料核对一下。"
            if chinese
            else f'"{clause}" says the opposite of the material: check it against the material.'
        )
    if reading.covered:
        lines.append(
            f"你的解释把{listed(reading.covered)}和材料联系起来了。"
            if chinese
            else f"Your explanation ties {listed(reading.covered)} to the material."
        )
    if reading.named:
        lines.append(
            f"{listed(reading.named)}只是提到了名字：说明它是什么、和材料里其他内容有什么关系。"
            if chinese
            else f"{listed(reading.named)} only named: say what it is and how it ties to the rest of the material."
        )
    if reading.missing:
        term = reading.missing[0]
        lines.append(
            f"还缺少「{term}」：说明它是什么、和问题有什么关系。"
            if chinese
            else f"The most useful addition: explain {term} and how it relates to the question."
        )
    if not reading.covered and not reading.named:
        lines.append(
            "这份离线估计只看得出解释和材料用词的关系，看不出用自己的话或例子讲的内容是否正确。"
            if chinese
            else "This offline estimate can only see how the explanation's words relate to the material, "
            "not whether an explanation in other words is right."
        )
    if not reading.examples:
        lines.append(
            "加一个生活中的例子或比喻，会让解释更形象。"
            if chinese
            else "Add an everyday example or analogy to make it concrete."
        )
    if reading.copied > 0.5:
        lines.append(
            "不少句子照搬了材料原文，试着用自己的话重新说一遍。"
            if chinese
            else "Much of it is copied from the material; say it again in your own words."
        )
    return "".join(lines) if chinese else " ".join(lines)


def score(data: ScoringInput) -> ScoringOutput:
    """Score an explanation on the four-part rubric, or say why it cannot be scored."""
    answer = data.user_understanding
    chinese = is_chinese(answer.strip() or data.question_text)
    nothing = unanswered(answer)
    if nothing is not None:
        return ScoringOutput(unscorable=True, reason=REASONS[nothing][0 if chinese else 1])
    reading = read(data)
    parts = _breakdown(reading)
    total = parts.accuracy + parts.imagery + parts.completeness + parts.originality
    action: ColorAction = "change_to_green" if total >= 80 else "change_to_purple" if total >= 60 else "keep_red"
    return ScoringOutput(
        total_score=total,
        breakdown=parts,
        passed=total >= 80,
        feedback=_feedback(chinese, reading),
        color_action=action,
    )
