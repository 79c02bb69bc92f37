"""The stub model's reader: the question and the numbered `<doc>` passages back out of a prompt in the answer.md
format. The stub is a real chat model behind the same chain and prompt as any other, so the prompt's text is all it
is given."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import iso_to_int

_DOC = re.compile(r"<doc id='(\d+)'([^>]*)>\n?(.*?)\n?</doc>", re.DOTALL)
_ATTR = re.compile(r"(\w+)='([^']*)'")
_QUESTION = re.compile(r"<question>(.*?)</question>", re.DOTALL)


@dataclass(frozen=True)
class Doc:
    """A numbered passage as the prompt shows it."""

    n: int
    title: str
    source: str
    day: int | None
    body: str


def read_prompt(prompt: str) -> tuple[str | None, list[Doc]]:
    """The question and the numbered passages of a prompt in the answer.md format."""
    question = _QUESTION.search(prompt)
    docs = []
    for n, attrs, body in _DOC.findall(prompt):
        fields = dict(_ATTR.findall(attrs))
        docs.append(Doc(int(n), fields.get("title", ""), fields.get("source", ""), iso_to_int(fields.get("date")), body))
    return (question.group(1).strip() if question else None), docs
