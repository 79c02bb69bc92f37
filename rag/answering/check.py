"""Checking someone else's text against the articles: each claim supported, contradicted or not in them.

The text (a chat message) is split into sentences, at most `MAX_CLAIMS` of them (the rest is cut, with a note).
Each claim gets its own passages from the retriever, as a question would. Every passage sentence (and every two
neighbouring ones) sharing enough of its words is a candidate; the `CANDIDATES` closest in words are scored by
meaning (the store's embedder: the whole quote or its closest clause) and judged with the rules of
`rag.answering.check_rules` (built on the citation check's, `rag.answering.claims`), no model:
- **supported**: a candidate close in meaning (`SUPPORT_SIM`), or holding every word of the claim, that holds its
  names, numbers and scores, with no rule objecting, each of its other words there in some form or (embedder)
  a word close in meaning;
- **contradicted**: a candidate holding the claim's names that states otherwise: a different number or score
  next to the same words, a negation flipped, the two names in opposite roles, a result reversed. One at least
  as close in meaning as the best support outweighs it (unless it is only a number the support gives right).
  Nor is a number one when a retrieved passage gives the claim's own next to two of its words (a sentence of
  another article counting something else is no contradiction); chat's "3k", "$21m" are numbers too.
- **not_found** otherwise: a number the articles never give for that thing is no contradiction, nor is a name
  they lack. When in doubt between supported and not_found, not_found: a false "supported" costs the most.
Measured with `newsbot eval check` (rag/eval/check.py); without an embedder every word must be held.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.answering.check_rules import (
    NUMBER_CONFLICT,
    Candidate,
    Embed,
    conflict,
    holds,
    holds_every_word,
    stated_numbers,
)
from rag.answering.citations import split_claims
from rag.answering.claims import passage_sentences
from rag.answering.quantities import quantities
from rag.answering.query import validate_question
from rag.schema import Citation, Passage
from rag.text import FUNCTION_WORDS, coverage, idf_table, terms

MAX_CLAIMS = 5
MIN_WORDS = 3  # a shorter sentence ("lol", "Wow.") is no claim
MAX_CITATIONS = 3
CANDIDATES = 16  # the candidates closest in words that are embedded and judged
MIN_WORDS_SHARED = 0.2  # a candidate holding less of the claim's weighted words is not about it
SUPPORT_SIM = 0.62  # meaning similarity (MiniLM cosine) a supporting candidate needs
TOPIC_SIM = 0.5  # ... and one that contradicts (it is about the same thing, saying otherwise)
LONG_QUOTE_WORDS = 20  # a quote longer than this is also scored by its clauses
MIN_CLAUSE_WORDS = 5  # a shorter piece between commas or dashes is no clause of its own
_CLAUSE_BREAK = re.compile(r"\s*(?:[,;:—–]|\s-\s|\. )\s*")
NAME_CASE_RATIO = 3  # a word the articles capitalise this many times as often as not is a name
_MID_SENTENCE_WORD = re.compile(r"(?<=[\w,;:’'\"”)]\s)([A-Za-z][A-Za-z.’'-]*[A-Za-z])")
_CLAIM_WORD = re.compile(r"(?<![\w'’])[a-z][a-z.-]*[a-z]")  # "mrbeast" of "mrbeast's" too
VERDICTS = ("supported", "contradicted", "not_found")
# the rules match words and meaning, not paraphrase: a claim the articles word otherwise can come out not_found
NOT_FOUND_REASON = ("no passage says this in words the check can match (the articles may word it otherwise, "
                    "so this is not a denial)")


@dataclass(frozen=True)
class ClaimCheck:
    """One claim's verdict, the passages behind it with their verbatim quotes, and the checker's reason."""

    text: str
    verdict: str  # one of VERDICTS
    citations: list[Citation] = field(default_factory=list)
    reason: str = ""

    def to_dict(self) -> dict:
        return {"text": self.text, "verdict": self.verdict, "citations": [c.to_dict() for c in self.citations],
                "reason": self.reason}


@dataclass(frozen=True)
class CheckResult:
    """Every claim checked; `note` says what was cut from a long text ("" when nothing was)."""

    claims: list[ClaimCheck]
    note: str = ""

    def to_dict(self) -> dict:
        return {"claims": [c.to_dict() for c in self.claims], "note": self.note}


def split_text(text: str, max_claims: int = MAX_CLAIMS) -> tuple[list[str], str]:
    """The text's claims (sentences of at least `MIN_WORDS` words), at most `max_claims`, and a note if cut."""
    found = [s for s, _ in split_claims(text) if len(terms(s)) >= MIN_WORDS or len(s.split()) >= MIN_WORDS]
    if len(found) <= max_claims:
        return found, ""
    return found[:max_claims], (f"only the first {max_claims} of {len(found)} claims were checked; "
                                "check the rest in a message of their own")


def check_text(text: str, retrieve: Callable[[str], list[Passage]], max_chars: int,
               max_claims: int = MAX_CLAIMS, embed: Embed | None = None) -> CheckResult:
    """Split `text` into claims, retrieve passages for each and judge it (blocking). QuestionError when the text
    is empty, too long or holds no claim."""
    text = validate_question(text, max_chars)
    claims, note = split_text(text, max_claims)
    if not claims:
        validate_question("", max_chars)  # the same message as an empty question
    return CheckResult([check_claim(claim, retrieve(claim), embed) for claim in claims], note)


def check_claim(claim: str, passages: list[Passage], embed: Embed | None = None) -> ClaimCheck:
    """Supported if a close candidate holds the claim, else contradicted if one on the same thing states
    otherwise, else not_found."""
    embed = _remembering(embed) if embed is not None else None
    said, claim = claim, recase(claim, " ".join(p.title + ". " + p.text for p in passages))
    ranked = candidates(claim, passages, embed)
    backing: list[tuple[float, Candidate]] = []
    for c in ranked:  # closest first; enough once there is a quote from each of `MAX_CITATIONS` articles
        if len({b.passage.article_id for _, b in backing}) >= MAX_CITATIONS:
            break
        if (c.sim >= SUPPORT_SIM or holds_every_word(claim, c)) and holds(claim, c, embed):
            backing.append((c.sim, c))
    # a contradiction at least as close in meaning as the best support outweighs it: when in doubt, not supported
    floor = max(TOPIC_SIM, backing[0][0]) if backing else TOPIC_SIM
    for c in ranked:  # closest first: the contradiction quoted is the one most about the claim
        if c.sim < floor:
            break
        reason = conflict(claim, c, embed)
        if reason and not _number_given(reason, claim, passages, bool(backing)):
            return ClaimCheck(said, "contradicted", _best([(c.sim, c)]), reason)
    if backing:
        return ClaimCheck(said, "supported", _best(backing))
    return ClaimCheck(said, "not_found", reason=NOT_FOUND_REASON)


def _number_given(reason: str, claim: str, passages: list[Passage], backed: bool) -> bool:
    """Whether a conflict over a number is answered elsewhere: a support gives the claim's number or score, or
    (a number, not a score) some passage gives each of its numbers next to two of its words."""
    if not reason.startswith(NUMBER_CONFLICT):
        return False
    if backed:
        return True
    return reason.startswith(NUMBER_CONFLICT + " number") and quantities(claim) <= stated_numbers(
        claim, " ".join(p.text for p in passages), shared=2)


def recase(claim: str, articles: str) -> str:
    """The claim with each lower-case word that the articles write capitalised inside their sentences (at least
    `NAME_CASE_RATIO` times as often as in lower case) written as they most often do: chat is typed in lower
    case ("blackburn knocked chelsea out"), and the rules find names, and so who did what to whom, by capitals."""
    forms: dict[str, Counter] = {}
    for m in _MID_SENTENCE_WORD.finditer(articles):
        forms.setdefault(m.group(1).lower(), Counter())[m.group(1)] += 1

    def cased(m: re.Match) -> str:
        word = m.group(0)
        seen = forms.get(word.lower())
        if word != word.lower() or word in FUNCTION_WORDS or not seen:
            return word
        upper = sum(n for form, n in seen.items() if form != form.lower())  # "iRobot" too
        if upper < NAME_CASE_RATIO * seen.get(word, 0) or upper == 0:
            return word
        return max((f for f in seen if f != f.lower()), key=lambda f: seen[f])

    return _CLAIM_WORD.sub(cased, claim)


def candidates(claim: str, passages: list[Passage], embed: Embed | None) -> list[Candidate]:
    """Each passage sentence and each two neighbouring ones that share enough of the claim's words, the
    `CANDIDATES` closest in words, scored by meaning (`embed`) or words, closest first."""
    split = {p.n: passage_sentences(p.text) for p in passages}
    idf = idf_table(t for sents in split.values() for _, t in sents)
    claim_terms = terms(claim)
    articles: dict[str, str] = {}
    for p in passages:
        articles[p.article_id] = articles.get(p.article_id, "") + " " + p.text
    found: list[Candidate] = []
    for p in passages:
        sents = split[p.n]
        for start in range(len(sents)):
            for end in (start + 1, start + 2)[:1 + (start + 1 < len(sents))]:
                words = coverage(claim_terms, set().union(*(t for _, t in sents[start:end])), idf)
                if words >= MIN_WORDS_SHARED:
                    quote = " ".join(s for s, _ in sents[start:end])
                    around = " ".join(s for s, _ in sents[max(0, start - 2):end + 1])
                    found.append(Candidate(p, quote, around + " " + p.title, words, words, articles[p.article_id]))
    found = sorted(found, key=lambda c: -c.words)[:CANDIDATES]
    if embed is not None and found:
        found = [c.scored(sim) for c, sim in zip(found, meaning_sims(claim, [c.quote for c in found], embed))]
    return sorted(found, key=lambda c: -c.sim)


def meaning_sims(claim: str, quotes: list[str], embed: Embed) -> list[float]:
    """Each quote's closeness in meaning to the claim: the closer of the whole quote and its closest clause (a
    long sentence's other clauses dilute its vector)."""
    parts = [[q] + [p for p in _CLAUSE_BREAK.split(q) if len(p.split()) >= MIN_CLAUSE_WORDS and p != q]
             if len(q.split()) > LONG_QUOTE_WORDS else [q] for q in quotes]
    flat = [p for ps in parts for p in ps]
    vectors = embed([claim] + flat)
    sims = vectors[1:] @ vectors[0]
    out, i = [], 0
    for ps in parts:
        out.append(float(sims[i:i + len(ps)].max()))
        i += len(ps)
    return out


def _best(rows: list[tuple[float, Candidate]]) -> list[Citation]:
    """The best-scored candidates as citations, one per article, numbered from 1."""
    seen, out = set(), []
    for _, c in sorted(rows, key=lambda row: -row[0]):
        p = c.passage
        if p.article_id not in seen:
            seen.add(p.article_id)
            out.append(Citation(len(out) + 1, p.article_id, p.title, p.source, p.published, p.url, c.quote))
    return out[:MAX_CITATIONS]


def _remembering(embed: Embed) -> Embed:
    """`embed` that embeds each text once per claim (the same words recur in every candidate)."""
    seen: dict[str, np.ndarray] = {}

    def remembered(texts: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in seen]
        if new:
            seen.update(zip(new, embed(new)))
        return np.stack([seen[t] for t in texts])

    return remembered


def embedder(embeddings: Any) -> Embed | None:
    """Unit vectors from the store's embedder (the offline MiniLM's `embed_array`, else LangChain's
    `embed_documents`), or None when there is none (the check then holds claims to their words)."""
    if embeddings is None:
        return None
    raw = getattr(embeddings, "embed_array", None) or (lambda texts: np.asarray(embeddings.embed_documents(texts)))

    def embed(texts: list[str]) -> np.ndarray:
        vectors = np.asarray(raw(texts), dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)

    return embed


def verdict_counts(result: CheckResult) -> dict[str, int]:
    """How many claims got each verdict."""
    return {v: sum(c.verdict == v for c in result.claims) for v in VERDICTS}
