"""A question's parts: one per outlet it names (the store's own outlet names), else its conjoined questions.

"Does the TechCrunch article say A, and does The Verge article say B?" has two parts, one per outlet, each with
that outlet's clause and dates. "When did the call happen and where was Trump?" has two parts, split where "and"
(or "but", "while", a semicolon or a question mark) starts a new question ("where", "did", "is" …). Retrieval
runs once for the whole question and once more for each part, so every part gets passages of its own.
Nothing here knows a benchmark: the parts come from the question's grammar and the outlets the store holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rag.retrieval.question import DateRef, OutletMatcher, parse_dates, parse_question, strip_meta_in
from rag.text import QUESTION_AUXILIARIES, terms

MIN_PART_TERMS = 3  # content words a part needs of its own, else it borrows its neighbour's clause
MAX_PARTS = 4  # a question of more parts is answered as these four (an answer shows at most four quotes)
QUESTION_WORDS = ("who", "whom", "whose", "what", "when", "where", "which", "why", "how")
_STARTER = "|".join(QUESTION_WORDS + QUESTION_AUXILIARIES)
# "…, and where …", "… but did …", "…; what …", "…? When …": a new question starts after the joint
_JOINT = re.compile(rf"(?:\s*[,;]?\s+(?:and|but|while)\s+(?:also\s+)?|\s*;\s*|(?<=\?)\s+)(?=(?:{_STARTER})\b)",
                    re.IGNORECASE)
_EDGE_WORDS = re.compile(r"^(?:\W|and\b|but\b|while\b|also\b|as well as\b|,)+|(?:\W|\band|\bbut|\bwhile|\bthe|"
                         r"\bdoes|\bdid|\bis|\bwas|\bas reported by|\bas mentioned in|\bby|\bfrom|\bin)+$",
                         re.IGNORECASE)


@dataclass(frozen=True)
class Part:
    """One part of a question: its words, the outlets it names (store names) and the date windows it gives."""

    text: str
    sources: frozenset[str] = frozenset()
    windows: tuple[DateRef, ...] = field(default=())
    borrows: int | None = None  # the index of the part whose clause this one borrows ("Outlet B: <its clause>")

    def shown(self) -> str:
        """The part as a user reads it in the answer (brackets softened so they can't pose as citations)."""
        return self.text.replace("[", "(").replace("]", ")")


def is_yes_no(question: str) -> bool:
    """Whether the question asks yes or no ("Does …", "Was …", "Is it true …")."""
    first = re.match(r"\W*(\w+)", question)
    return bool(first) and first.group(1).lower() in QUESTION_AUXILIARIES


def split_question(question: str, matcher: OutletMatcher | None = None) -> list[Part]:
    """The question's parts (one part: the question itself), at most MAX_PARTS."""
    question = " ".join(question.split())
    parsed = parse_question(question, matcher) if matcher is not None else None
    if parsed is not None and len(parsed.outlets) >= 2:
        parts = _outlet_parts(question, parsed)
    else:
        sources = frozenset(parsed.groups[0][0]) if parsed is not None and parsed.groups else frozenset()
        pieces = [_tidy(p) for p in _JOINT.split(question)]
        parts = [Part(p, sources, tuple(parse_dates(p))) for p in pieces if p]
    parts = [p for p in parts if re.search(r"\w", p.text)]
    return parts[:MAX_PARTS] or [Part(question, frozenset(), tuple(parse_dates(question)))]


def _outlet_parts(question: str, parsed) -> list[Part]:
    """One part per outlet mention: from the mention to the next one (the first from the question's start).

    A part that says too little of its own ("… by both CBSSports.com and Sporting News?") borrows the clause of
    the nearest part that says enough, so it is searched and judged on the same words."""
    starts = [0] + [start for start, _, _, _ in parsed.outlets[1:]] + [len(question)]
    pieces = [(mention, (starts[i], starts[i + 1])) for i, mention in enumerate(parsed.outlets)]
    clauses = [_tidy(strip_meta_in(question, parsed, [span])) for _, span in pieces]
    said = [i for i, clause in enumerate(clauses) if len(terms(clause)) >= MIN_PART_TERMS]
    parts = []
    for i, ((_, _, sources, surface), (lo, hi)) in enumerate(pieces):
        windows = tuple(d for d in parsed.dates if lo <= d.start < hi)
        near = None
        if i in said or not said:
            text = _tidy(question[lo:hi])
        else:
            near = min(said, key=lambda j: (abs(j - i), j < i))
            text = f"{surface}: {clauses[near]}"
            windows = windows or tuple(d for d in parsed.dates if starts[near] <= d.start < starts[near + 1])
        parts.append(Part(text, frozenset(sources), windows, near))
    return parts


def _tidy(text: str) -> str:
    """A clause without the joining words at its edges ("…, and does the" → "…")."""
    text = text.strip()
    while True:
        tidied = _EDGE_WORDS.sub("", text).strip()
        if tidied == text:
            break
        text = tidied
    return text[:1].upper() + text[1:] if text else text


def matcher_of(retriever: BaseRetriever) -> OutletMatcher | None:
    """The store's outlet matcher when the retriever searches a newsbot store, else None (grammar only)."""
    index = getattr(retriever, "index", None)
    if index is None:
        return None
    from rag.retrieval.retriever import outlet_matcher

    return outlet_matcher(index)


def retrieve_by_parts(retriever: BaseRetriever, question: str) -> list[Document]:
    """The question's passages, then each part's own (unseen ones only): every part gets passages of its own."""
    docs = list(retriever.invoke(question))
    parts = split_question(question, matcher_of(retriever))
    if len(parts) < 2:
        return docs
    seen = {_key(d) for d in docs}
    for part in parts:
        for doc in retriever.invoke(part.text):
            if _key(doc) not in seen:
                seen.add(_key(doc))
                docs.append(doc)
    return docs


def _key(doc: Document) -> str:
    return str(doc.metadata.get("chunk_id") or doc.page_content)
