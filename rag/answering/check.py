"""Checking someone else's text against the articles: each claim supported, contradicted or not in them.

The text (a chat message) is split into sentences, at most `MAX_CLAIMS` of them (the rest is cut, with a note).
Each claim gets its own passages from the retriever, as a question would, and is judged rule by rule with the
citation check's `rag.answering.claims.judge` (no model):
- **supported**: a passage sentence holds enough of the claim (`MIN_HOLDS`) and no rule objects;
- **contradicted**: a passage sentence is about the same thing (`MIN_SAME_TOPIC` of its weighted words) but a
  rule rejects it for a number, a negation or swapped roles (the checker's own reasons);
- **not_found** otherwise (a name the source lacks is a different story, not a contradiction).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rag.answering.citations import split_claims
from rag.answering.claims import judge, names, passage_sentences, tokens
from rag.answering.query import validate_question
from rag.schema import Citation, Passage
from rag.text import idf_table, terms

MAX_CLAIMS = 5
MIN_HOLDS = 0.5  # share of a claim's weighted words a sentence must hold to support it
MIN_SAME_TOPIC = 0.5  # share a rejected sentence must hold for its objection to be a contradiction
MIN_WORDS = 3  # a shorter sentence ("lol", "Wow.") is no claim
MAX_CITATIONS = 3
MAX_UNHELD = 0  # words of the claim (names aside) a supporting quote may lack
# the reasons of rag.answering.claims that say the passage states otherwise (a missing name does not)
CONTRADICTING = ("quantity not in the source", "negates", "asserts", "has a negation", "has ")
VERDICTS = ("supported", "contradicted", "not_found")


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
               max_claims: int = MAX_CLAIMS) -> CheckResult:
    """Split `text` into claims, retrieve passages for each and judge it (blocking). QuestionError when the text
    is empty, too long or holds no claim."""
    text = validate_question(text, max_chars)
    claims, note = split_text(text, max_claims)
    if not claims:
        validate_question("", max_chars)  # the same message as an empty question
    return CheckResult([check_claim(claim, retrieve(claim)) for claim in claims], note)


def check_claim(claim: str, passages: list[Passage]) -> ClaimCheck:
    """Supported if a passage supports the claim, else contradicted if one on the same thing objects, else
    not_found."""
    sentences = {p.n: passage_sentences(p.text) for p in passages}
    idf = idf_table(t for sents in sentences.values() for _, t in sents)
    backing: list[tuple[float, Citation]] = []
    against: list[tuple[float, Citation, str]] = []
    for p in passages:
        verdict = judge(claim, sentences[p.n], idf, p.text, p.title, MIN_HOLDS, claim)
        if verdict.supported and not unheld_words(claim, verdict.quote + " " + p.title):
            backing.append((verdict.score, _citation(p, verdict.quote)))
        elif verdict.quote and verdict.score >= MIN_SAME_TOPIC and verdict.reason.startswith(CONTRADICTING):
            against.append((verdict.score, _citation(p, verdict.quote), verdict.reason))
    if backing:
        return ClaimCheck(claim, "supported", _best(backing))
    if against:
        against.sort(key=lambda row: -row[0])
        return ClaimCheck(claim, "contradicted", _best([against[0][:2]]), against[0][2])  # the closest one
    return ClaimCheck(claim, "not_found", reason="no passage of the articles says this")


def unheld_words(claim: str, quote: str) -> list[str]:
    """The claim's words, names aside, that the quote does not hold: what the claim says happened ("arrested",
    "buying") must be in the sentence that supports it, not only who it is about. More than `MAX_UNHELD` of
    them, and the quote is about the same people but not the same thing."""
    named = {stem for words in names(tokens(claim)).values() for w in words for stem in terms(w)}
    held = set(terms(quote))
    missing = [t for t in dict.fromkeys(terms(claim)) if t not in named and t not in held]
    return missing if len(missing) > MAX_UNHELD else []


def _best(rows: list[tuple[float, Citation]]) -> list[Citation]:
    """The best-scored citations, one per article, numbered from 1."""
    seen, out = set(), []
    for _, c in sorted(rows, key=lambda row: -row[0]):
        if c.article_id not in seen:
            seen.add(c.article_id)
            out.append(Citation(len(out) + 1, c.article_id, c.title, c.source, c.published, c.url, c.quote))
    return out[:MAX_CITATIONS]


def _citation(p: Passage, quote: str) -> Citation:
    return Citation(n=p.n, article_id=p.article_id, title=p.title, source=p.source, published=p.published,
                    url=p.url, quote=quote)


def verdict_counts(result: CheckResult) -> dict[str, int]:
    """How many claims got each verdict."""
    return {v: sum(c.verdict == v for c in result.claims) for v in VERDICTS}


