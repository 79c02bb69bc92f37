"""Small text helpers shared by the stub model, the citation checker and the briefings."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both but
by can could did do does doing down during each few for from further had has have having he her here hers herself
him himself his how i if in into is it its itself just me more most my myself no nor not now of off on once only or
other our ours ourselves out over own same she should so some such than that the their theirs them themselves then
there these they this those through to too under until up very was we were what when where which while who whom why
will with would you your yours yourself yourselves said says say according also told tell did does news article
articles report reported reports reporting which whose whom what's who's
""".split())

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")


def stem(word: str) -> str:
    """A crude suffix stripper: enough to match warn/warned/warning and drone/drones."""
    for suffix in ("ings", "ing", "edly", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Content terms: lower-cased, stemmed, stopwords dropped."""
    out = []
    for raw in _WORD.findall(text):
        word = raw.lower().replace("’", "'").removesuffix("'s")
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        out.append(stem(word))
    return out


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`, so quotes can be cut verbatim."""
    spans = []
    for block in re.finditer(r"[^\n]+", text):
        start = block.start()
        for match in _SENTENCE_END.finditer(block.group()):
            end = block.start() + match.start()
            spans.append((start, end))
            start = block.start() + match.end()
        spans.append((start, block.end()))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def idf_table(documents: Iterable[Iterable[str]]) -> dict[str, float]:
    """Smoothed inverse document frequency over the given term lists."""
    docs = [set(d) for d in documents]
    counts = Counter(t for d in docs for t in d)
    n = len(docs)
    return {t: math.log(1 + n / c) for t, c in counts.items()} | {"": math.log(1 + n)}


def coverage(query_terms: list[str], sentence_terms: set[str], idf: dict[str, float]) -> float:
    """Share of the query's idf weight that the sentence contains (0..1)."""
    unique = set(query_terms)
    if not unique:
        return 0.0
    default = idf.get("", 1.0)
    total = sum(idf.get(t, default) for t in unique)
    return sum(idf.get(t, default) for t in unique if t in sentence_terms) / total
