"""The citation check: a reply's `[n]` kept only where the passage it points at supports the claim, then renumbered,
with each cited passage's quote attached (`check_citations`). The claims are judged by `rag.answering.claims`."""

from __future__ import annotations

import logging
import re

from rag.answering.claims import MIN_CLAUSE_SUPPORT, MIN_SUPPORT, judge, passage_sentences
from rag.answering.models import NOT_SURE, OFFLINE_LABEL, STUB_MODEL_NAME
from rag.schema import Answer, Citation, Passage
from rag.text import (MARKER_RE, MARKER_RUN_RE, coverage, idf_table, lower_words, split_clauses, split_sentences,
                      terms)

MIN_ATTRIBUTION = 0.5  # stricter, for unmarked sentences we attribute ourselves

logger = logging.getLogger(__name__)


def check_citations(reply: str, passages: list[Passage], model: str) -> Answer:
    """Keep only `[n]` that point at a retrieved passage which supports the claim; renumber; attach quotes.

    Each reply sentence is one claim, judged clause by clause by `rag.answering.claims.judge` (words, numbers, dates,
    negation, names, who did what to whom): a later clause no cited passage supports is cut, a claim whose main
    clause none supports is dropped (each logged at DEBUG with its reason). A reply with no markers at all has its
    sentences attributed to passages here. If nothing checkable is left the answer abstains. Sources that were
    not checked are never shown.
    """
    offline = model == STUB_MODEL_NAME
    body = reply.replace(OFFLINE_LABEL, "").strip()
    if not body or _is_not_sure(body):
        return Answer(answer=NOT_SURE, abstained=True, model=model, offline=offline)
    by_n = {p.n: p for p in passages}
    sentences = {p.n: passage_sentences(p.text) for p in passages}
    idf = idf_table(t for sents in sentences.values() for _, t in sents)
    has_markers = bool(MARKER_RE.search(body))
    kept_claims: list[tuple[str, list[int]]] = []
    quotes: dict[int, tuple[float, str]] = {}
    for text, wanted in split_claims(body):
        if not has_markers:
            wanted = [n for n in by_n if _best(terms(text), sentences[n], idf)[0] >= MIN_ATTRIBUTION][:1]
        wanted = [n for n in dict.fromkeys(wanted) if n in by_n]  # an invented number: removed, never shown
        kept, supported = _checked_clauses(text, [by_n[n] for n in wanted], sentences, idf, quotes)
        if kept:
            kept_claims.append((kept, supported))
    if not kept_claims:
        return Answer(answer=NOT_SURE, abstained=True, model=model, offline=offline)
    renumber: dict[int, int] = {}
    for _, ns in kept_claims:
        for n in ns:
            renumber.setdefault(n, len(renumber) + 1)
    lines = [text + " " + "".join(f"[{renumber[n]}]" for n in ns) for text, ns in kept_claims]
    answer = ("\n" if offline else " ").join(lines)
    if offline:
        answer = OFFLINE_LABEL + "\n" + answer
    citations = [_citation(new, by_n[old], quotes[old][1]) for old, new in renumber.items()]
    return Answer(answer=answer, abstained=False, model=model, citations=citations, offline=offline)


def _checked_clauses(text: str, cited: list[Passage], sentences: dict[int, list[tuple[str, set[str]]]],
                     idf: dict[str, float], quotes: dict[int, tuple[float, str]]) -> tuple[str, list[int]]:
    """The claim with the clauses its cited passages support ("" if its main clause has none), and who supports it.

    A claim that is word for word a whole sentence of a passage it cites says what that passage says: it is kept
    whole with that passage (the clause rules, made for paraphrase, can misread a long sentence quoted in full:
    "…suspended coach Jim Harbaugh…, and … will be without him" is not a negated "coach"), and that sentence is the
    passage's quote unless an earlier claim's is (an offline answer's citation shows the first line it quoted)."""
    words = lower_words(text)  # "word for word" ignores punctuation, spacing and case
    verbatim: dict[int, str] = {}  # passage → its sentence the claim is
    for p in cited:
        same = next((s for s, _ in sentences[p.n] if lower_words(s) == words), None) if words else None
        if same is not None:
            verbatim[p.n] = same
    if not verbatim:
        return _judged_clauses(text, cited, sentences, idf, quotes)
    for n, same in verbatim.items():
        if quotes.get(n, (-1.0, ""))[0] < 1.0:
            quotes[n] = (1.0, same)
    others = [p for p in cited if p.n not in verbatim]
    _, more = _judged_clauses(text, others, sentences, idf, quotes) if others else ("", [])
    return text, [*verbatim, *more]


def _judged_clauses(text: str, cited: list[Passage], sentences: dict[int, list[tuple[str, set[str]]]],
                    idf: dict[str, float], quotes: dict[int, tuple[float, str]]) -> tuple[str, list[int]]:
    """`_checked_clauses` clause by clause, with `rag.answering.claims.judge`."""
    kept, supported = [], []
    for i, (separator, clause) in enumerate(split_clauses(text)):
        threshold = MIN_SUPPORT if i == 0 else MIN_CLAUSE_SUPPORT
        reasons, backers = [], []
        for p in cited:
            verdict = judge(clause, sentences[p.n], idf, p.text, p.title, threshold, text)
            if verdict.supported:
                backers.append(p.n)
                best = quotes.get(p.n, (-1.0, ""))  # the best-supported quote; of equals, the shortest
                if (verdict.score, -len(verdict.quote)) > (best[0], -len(best[1])):
                    quotes[p.n] = (verdict.score, verdict.quote)
            else:
                reasons.append(f"[{p.n}] {verdict.reason}")
        if not backers:
            logger.debug("%s %r: %s", "dropped claim" if i == 0 else "cut clause", clause.strip(),
                         "; ".join(reasons) or "cites no retrieved passage")
            if i == 0:
                return "", []
            continue
        kept.append(separator + clause)
        supported += [n for n in backers if n not in supported]
    claim = "".join(kept).rstrip(" ,;:—–")
    if claim != text.rstrip(" ,;:—–") and text.rstrip()[-1:] in ".!?" and claim[-1:] not in ".!?":
        claim += text.rstrip()[-1]
    return claim, supported


def split_claims(body: str) -> list[tuple[str, list[int]]]:
    """Claims (one a sentence) with the passage numbers cited right after them; unmarked text is split into
    sentences. Each sentence before a marker carries that marker: none rides on a neighbour's."""
    claims: list[tuple[str, list[int]]] = []
    cursor = 0
    for match in MARKER_RUN_RE.finditer(body):
        text = body[cursor:match.start()].strip().lstrip(".,;:!?").strip()
        numbers = [int(n) for n in re.findall(r"\d+", match.group())]
        cursor = match.end()
        trailing = re.match(r"[.,;:!?]+", body[cursor:])
        if trailing:
            text += trailing.group()
            cursor += trailing.end()
        if text:
            claims += [(sentence, list(numbers)) for sentence in _sentences(text)]
        elif claims:  # "[1] [2]" split by a space: both belong to the claim before
            claims[-1][1].extend(numbers)
    claims += [(sentence, []) for sentence in _sentences(body[cursor:])]
    return claims


def _sentences(text: str) -> list[str]:
    spans = (text[s:e].strip() for s, e in split_sentences(text))
    return [s for s in spans if s.lstrip(".,;:!?").strip()]


def _best(claim_terms: list[str], sents: list[tuple[str, set[str]]], idf: dict[str, float]) -> tuple[float, str]:
    best = (0.0, "")
    for sentence, sentence_terms in sents:
        score = coverage(claim_terms, sentence_terms, idf)
        if score > best[0]:
            best = (score, sentence)
    return best


def _is_not_sure(body: str) -> bool:
    squashed = re.sub(r"\W+", " ", body.lower()).strip()
    return squashed.startswith(re.sub(r"\W+", " ", NOT_SURE.lower()).strip()[:30])


def _citation(n: int, passage: Passage, quote: str) -> Citation:
    return Citation(n=n, article_id=passage.article_id, title=passage.title, source=passage.source,
                    published=passage.published, url=passage.url, quote=quote, chunk_id=passage.chunk_id)
