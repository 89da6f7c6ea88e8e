"""Node text without its Markdown: what a canvas node says, for anything that reads or quotes it.

Canvas text nodes are Markdown. A term, a question, a hint or a group label made from them must
not carry the markup along (`「**Yellow · 黄色**…」`, `what is **O₂**?`): emphasis and code marks
go, a link keeps its text, a heading or quote mark and a table bar become a space.
"""

from __future__ import annotations

import re

_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|`+|~~|==)(?=\S)(.+?)(?<=\S)\1")
_MARKUP = re.compile(r"[#>|]+|!?\[\[|\]\]|\[([^\]]*)\]\([^)]*\)")


def plain(text: str) -> str:
    """The text without Markdown markup: `**O₂**` becomes `O₂`, `[text](url)` its text, `[[note]]` `note`."""
    text = _EMPHASIS.sub(lambda match: match.group(2), text)
    return _MARKUP.sub(lambda match: match.group(1) or " ", text)
