"""Key terms of a piece of material, from real segmentation: jieba for Chinese, YAKE! for the rest.

A term is what a teacher would ask about: a noun or a noun phrase of the material, kept whole
("Calvin cycle", "light-dependent reactions", "逆否命题"), never a stop word, a pronoun, an
interrogative, a verb phrase or a single letter. In order of preference:

1. the title of the material (its first Markdown heading, when short);
2. what the writer marked as a term: 「…」, “…”, 《…》, **…**, `…`, and definitions ("X is …",
   "… is called X", "称为X");
3. the extractor's ranking: jieba's TF-IDF keywords restricted to nouns (its part-of-speech
   tagger knows 逆否命题 as one noun); YAKE!'s keywords of one or two words, kept only where the
   text itself shows them to be nouns (a determiner before them, or capitals mid-sentence), since
   YAKE! has no part-of-speech tagger and otherwise proposes phrases like "energy splits".

Both are imported on first use (YAKE! brings numpy and networkx; jieba's dictionary takes about
80 MB and a second to load), so a server whose agents run elsewhere never pays for them; the
offline backend runs the heuristics in a thread, so loading never blocks the event loop.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from canvas_live.services.agents.backends.offline.tokens import jieba, mentions
from canvas_live.services.markdown import plain

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_MARKED = re.compile(
    r"「([^」]{1,16})」|『([^』]{1,16})』|“([^”]{1,30})”|《([^》]{1,16})》|\*\*([^*]{1,40})\*\*|`([^`]{1,30})`"
)
_EN_CALLED = re.compile(
    r"\b(?:called|known as|termed|defined as)\s+(?:an?\s+|the\s+)?([A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*)?)"
)
_EN_DEFINES = re.compile(r"(?:^|[.!?]\s+|\n)([A-Z][\w-]*(?:\s+[\w-]+){0,2})\s+(?:is|are|means|refers to)\s", re.M)
_ZH_CALLED = re.compile(r"(?:称为|叫做|所谓)([\u3400-\u9fff]{2,8})")
_CJK = re.compile(r"[\u3400-\u9fff]")
_LONE_LETTER = re.compile(r"(?<![A-Za-z])[A-Za-z](?![A-Za-z])")
_PAIR = re.compile(r"\s*(?:与|和|及|以及|&|\band\b|\bvs\.?|\bversus\b)\s*")
_ZH_TERM = re.compile(r"[\u3400-\u9fffA-Za-z0-9]{2,12}")

ZH_NOUNS = ("n", "nz", "vn", "nr", "ns", "nt", "nw", "eng", "l", "ng")
"""jieba's part-of-speech flags of nouns, names, idioms and Latin words: what a term can be."""


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


ZH_STOP = _words(
    "一个 一种 一些 我们 你们 他们 它们 因为 所以 如果 那么 但是 然而 而且 并且 或者 以及 通过 可以 就是 "
    "还是 这个 那个 这些 那些 什么 怎么 为什么 如何 进行 其中 非常 比较 之间 由于 对于 关于 已经 没有 不是 "
    "不能 需要 之后 之前 时候 例如 比如 等等 一定 不一定 可能 能够 同时 所有 这样 那样 因此 于是 即使 只要 "
    "只有 除了 称为 叫做 指的 定义 表示 成为 认为 觉得 知道 理解 解释 问题 内容 东西 方面 情况 部分 一下 "
    "之一 每个 一样 过程 结论 两句话 一件 一句 一点 时间 地方 结果 材料 答案 例子 方法 原因 作用 意思 关系 "
    "方式 能力 类比 我的理解 笔记 红色 紫色 绿色 黄色 蓝色 橙色 青色 颜色"
)
EN_STOP = _words(
    "a an the and or but if then else when while of to in on at by for with from into onto over under "
    "about as is are was were be been being it its this that these those there here which who whom whose "
    "what why how where when than so such can could may might must shall should will would do does did "
    "done not no nor only also very more most less much many some any each every all both either neither "
    "other another same own just too we you they he she i me my our your their them his her us one two "
    "three first second via per etc like unlike because since until without within between among through "
    "during before after above below up down out off again further once whether have has had having get "
    "gets got make makes made use uses used using called known defined termed something someone anything "
    "everything nothing yes okay find found explain mine yours ours theirs myself yourself itself themselves"
)
EN_GENERIC = _words(
    "example examples thing things way ways lot lots explanation answer question questions idea ideas part parts "
    "kind kinds sort type types note notes word words process processes system systems step steps stage stages "
    "form forms result results case cases fact facts time times place places point points node nodes canvas "
    "material red purple green yellow blue orange cyan colour color colours colors"
)
"""Nouns too general to be asked about alone ("the process", "a red node"), which may still end a
term ("isolated system", "Calvin cycle"), and the colour words a learning canvas is full of."""
_DETERMINERS = r"(?:the|a|an|this|that|these|those|its|their|our|your|his|her|each|every|no)"


def is_chinese(text: str) -> bool:
    """True when the text is mostly Chinese (one character weighs about as much as four letters)."""
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk * 4 >= len(re.findall(r"[A-Za-z]", text))


def key_terms(text: str, limit: int = 7, first: str | None = None) -> list[str]:
    """The most telling terms of `text`, best first, none contained in another (as tokens); `first`
    leads if it could be a term itself."""
    chinese = is_chinese(text)
    lead = " ".join(plain(first or "").split())
    candidates = [lead] if lead and is_term(lead) else []
    candidates += _titles(text, chinese) + _marked(text, chinese)
    candidates += _zh_ranked(plain(text), limit * 2) if chinese else _en_ranked(plain(text), limit * 2)
    if not candidates and not chinese:  # a short text (a question) gives the noun test little to go on
        candidates = _en_ranked(plain(text), limit * 2, strict=False)
    chosen: list[str] = []
    for term in candidates:
        if len(chosen) >= limit:
            break
        if any(mentions(other, term) or mentions(term, other) for other in chosen):
            continue
        chosen.append(term)
    return chosen


def is_term(term: str, chinese: bool | None = None) -> bool:
    """Whether `term` could stand as a term: no stop word, pronoun or interrogative at its ends, not a
    single letter, a colour or a generic noun ("process", "node") alone."""
    term = term.strip()
    if chinese is None:
        chinese = is_chinese(term)
    if chinese:  # and not a formula: 「若p则q」 is a statement about p and q, not a term
        if _ZH_TERM.fullmatch(term) is None or _LONE_LETTER.search(term) or term in ZH_STOP:
            return False
        return len(_CJK.findall(term)) >= 2
    words = [word.lower().strip("'’") for word in term.split()]
    if not 1 <= len(words) <= 4 or any(len(word) < 2 and not word.isupper() for word in term.split()):
        return False
    if words[0] in EN_STOP or words[-1] in EN_STOP or any(word.isdigit() for word in words):
        return False
    return any(word not in EN_GENERIC for word in words)  # a term has a word of its own


def _titles(text: str, chinese: bool) -> list[str]:
    """The heading as a term; a heading that names two things ("充分条件与必要条件") gives both."""
    heading = _HEADING.search(text)
    if heading is None:
        return []
    title = plain(heading.group(1)).strip(" ：:。.")
    parts = [part.strip() for part in _PAIR.split(title)]
    if len(parts) > 1 and all(is_term(part, chinese) for part in parts):
        return parts
    return [title] if is_term(title, chinese) else []


def _marked(text: str, chinese: bool) -> list[str]:
    found = []
    for match in _MARKED.finditer(text):
        term = next(group for group in match.groups() if group).strip(" ：:，,。.")
        if is_term(term, chinese):
            found.append(term)
    for pattern in (_ZH_CALLED,) if chinese else (_EN_DEFINES, _EN_CALLED):
        found += [match.group(1) for match in pattern.finditer(text) if is_term(match.group(1), chinese)]
    return found


def _zh_ranked(text: str, limit: int) -> list[str]:
    tags = jieba().analyse.extract_tags(text, topK=limit * 2, allowPOS=ZH_NOUNS)
    return [tag for tag in tags if is_term(tag, True)][:limit]


@lru_cache(maxsize=8)
def _yake(limit: int) -> Any:
    import yake

    return yake.KeywordExtractor(lan="en", n=2, top=limit * 3, dedupLim=0.8)


def _en_ranked(text: str, limit: int, strict: bool = True) -> list[str]:
    """YAKE!'s keywords (best first) that the text shows to be nouns, in the case the text writes them.

    Unless `strict`, any single word that could be a term will do, but not one with a verb's or an
    adverb's ending, nor one that only ever opens a sentence ("Put the material…", "Explain…").
    """
    ranked = []
    for keyword, _score in _yake(limit).extract_keywords(text):
        surface = _surface(text, keyword)
        if surface is None or _CJK.search(surface) or not is_term(surface, False):
            continue
        if strict:
            if _nounlike(text, surface):
                ranked.append(surface)
        elif " " not in surface and not surface.lower().endswith(("ly", "ed", "ing")):
            opens = surface[:1].isupper() and _starts_sentences(text, surface)
            if not opens:
                ranked.append(surface)
    return ranked[:limit]


def _surface(text: str, keyword: str) -> str | None:
    """The keyword as the text writes it (YAKE! may change its case), or None if it is not there whole."""
    match = re.search(r"(?<![\w-])" + re.escape(keyword) + r"(?![\w-])", text, re.I)
    return match.group(0) if match else None


def _nounlike(text: str, term: str) -> bool:
    """Evidence in the text itself that `term` names a thing: capitals that do not just open a
    sentence, an acronym, or a determiner before it (and, for a phrase, before its last word too:
    "the plant spends" has one before "plant spends", none before "spends")."""
    words = term.split()
    last = words[-1]
    if last.lower().endswith(("ly", "ing", "ed")) and not (len(words) == 2 and last[:1].isupper()):
        return False
    if all(word[:1].isupper() for word in words) and not _starts_sentences(text, term):
        return True
    if len(words) == 1 and sum(char.isupper() for char in last) >= 2:
        return True  # ATP, NADPH, RuBisCO
    if not _after_determiner(text, term, gap=False):
        return False
    if len(words) == 1:
        return True
    # A verb takes an object: "the plant spends the batteries" is a subject and its verb.
    followed = rf"(?<![\w-]){re.escape(term)}\s+{_DETERMINERS}\b"
    return _after_determiner(text, last, gap=True) and re.search(followed, text, re.I) is None


def _after_determiner(text: str, term: str, gap: bool) -> bool:
    """Whether `term` follows a determiner somewhere in `text` (with one word between, if `gap`)."""
    between = r"(?:[\w-]+\s+)?" if gap else ""
    return re.search(rf"\b{_DETERMINERS}\s+{between}{re.escape(term)}(?![\w-])", text, re.I) is not None


def _starts_sentences(text: str, term: str) -> bool:
    """True when every occurrence of `term` opens a sentence or a numbered step (where any word has a capital)."""
    for match in re.finditer(re.escape(term), text):
        before = re.sub(r"(?:^|\s)\d+[.)]$", "", text[: match.start()].rstrip()).rstrip()
        if before and before[-1] not in ".!?。！？\n:：":
            return False
    return True
