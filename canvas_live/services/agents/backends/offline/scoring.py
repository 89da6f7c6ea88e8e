"""Offline rubric scoring of a learner's explanation, from term coverage, length, examples and copying.

- accuracy: share of the key terms (of the question, then the reference) the answer uses;
- imagery: example and analogy markers ("比如", "就像", "for example", "imagine", …);
- completeness: length against a full answer (about 60 words or 120 Chinese characters),
  weighted by coverage;
- originality: the share of the answer not copied verbatim from the reference.
Each is 0-25; a short answer is capped on every dimension. An empty or placeholder answer is not
scored at all (`placeholders.unanswered`).
"""

from __future__ import annotations

from canvas_live.services.agents.backends.offline.text import (
    analogy_count,
    copied_ratio,
    is_chinese,
    key_terms,
    mentions,
    size,
)
from canvas_live.services.agents.placeholders import REASONS, unanswered
from canvas_live.services.agents.schemas import Breakdown, ColorAction, ScoringInput, ScoringOutput

FULL_ANSWER = 60
"""Words (or two Chinese characters each) a complete explanation usually needs."""


def _terms(data: ScoringInput) -> list[str]:
    terms = key_terms(data.question_text, limit=3)
    for term in key_terms(data.reference_material or "", limit=6):
        if not any(term.lower() in other.lower() or other.lower() in term.lower() for other in terms):
            terms.append(term)
    return terms


def _feedback(chinese: bool, covered: list[str], missing: list[str], examples: int, copied: float) -> str:
    lines = []
    if covered:
        listed = "、".join(f"「{term}」" for term in covered[:3]) if chinese else ", ".join(covered[:3])
        lines.append(f"你的解释用到了{listed}，方向是对的。" if chinese else f"Good: your explanation uses {listed}.")
    if missing:
        term = missing[0]
        lines.append(
            f"还缺少「{term}」：说明它是什么、和问题有什么关系。"
            if chinese
            else f"The most useful addition: explain {term} and how it relates to the question."
        )
    if not examples:
        lines.append(
            "加一个生活中的例子或比喻，会让解释更形象。"
            if chinese
            else "Add an everyday example or analogy to make it concrete."
        )
    if copied > 0.5:
        lines.append(
            "不少句子照搬了材料原文，试着用自己的话重新说一遍。"
            if chinese
            else "Much of it is copied from the material; say it again in your own words."
        )
    return "".join(lines) if chinese else " ".join(lines)


def score(data: ScoringInput) -> ScoringOutput:
    """Score an explanation on the four-part rubric, or say why it cannot be scored."""
    answer = data.user_understanding.strip()
    chinese = is_chinese(answer or data.question_text)
    nothing = unanswered(answer)
    if nothing is not None:
        return ScoringOutput(unscorable=True, reason=REASONS[nothing][0 if chinese else 1])
    terms = _terms(data)
    covered = [term for term in terms if mentions(answer, term)]
    missing = [term for term in terms if term not in covered]
    coverage = len(covered) / len(terms) if terms else 1.0
    length = size(answer)
    examples = analogy_count(answer)
    copied = copied_ratio(answer, data.reference_material or "")
    accuracy = round(25 * min(1.0, 0.2 + 0.8 * coverage) * min(1.0, length / 12))
    imagery = 25 if examples >= 2 else 18 if examples == 1 else min(8, length // 8)
    completeness = round(25 * min(1.0, length / FULL_ANSWER) * (0.5 + 0.5 * coverage))
    # Own words about something else are not an explanation: originality counts as far as it covers.
    originality = round(25 * (1 - copied) * min(1.0, length / 20) * (0.3 + 0.7 * coverage))
    total = accuracy + imagery + completeness + originality
    action: ColorAction = "change_to_green" if total >= 80 else "change_to_purple" if total >= 60 else "keep_red"
    return ScoringOutput(
        total_score=total,
        breakdown=Breakdown(accuracy, imagery, completeness, originality),
        passed=total >= 80,
        feedback=_feedback(chinese, covered, missing, examples, copied),
        color_action=action,
    )
