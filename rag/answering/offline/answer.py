"""The offline extractive answer: the question split into its parts, each answered by one quoted sentence.

The stub model (`rag.answering.models.ExtractiveStubModel`) reads the prompt's `<doc>` passages and `<question>`
(`reader`), splits the question with `rag.answering.parts` (outlets matched against the passages' own sources),
and for each part quotes the sentence that best covers the part's words (or one of its clauses' words), from a
passage of the outlet the part names, preferring its date window (`ranker`). A "when" part wants a sentence that
gives a time, a "where" part a place, a "how many" part a number. The words a question uses to point at an article
("does the article suggest") are not matched, and words no passage holds weigh little (`ranker.rank`). A part that
names someone no passage mentions (or goes on about that part's subject), or that has no sentence covering
`min_coverage` of its words, gets its own "not found" line; an answer none of whose quotes holds `min_anchor` of
its part's words abstains (the thresholds: `rules.ExtractiveRules`). A yes/no question is not answered yes or no:
the quotes for each side are shown. The chain checks the quoted lines with `check_citations`, like any model's
reply, and `regroup.check_part_reply` puts the checked lines back under their parts.
"""

from __future__ import annotations

import re

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from rag.answering.offline.ranker import (Candidate, blank_outlets_and_dates, part_terms, pick, rank,
                                          sentence_candidates)
from rag.answering.offline.reader import Doc
from rag.answering.offline.regroup import NOT_FOUND, PARTS_NOTE, YES_NO_NOTE
from rag.answering.offline.rules import ExtractiveRules
from rag.answering.parts import Part, is_yes_no, split_question
from rag.retrieval.question import OutletMatcher
from rag.text import (CALENDAR_WORDS, FUNCTION_WORDS, NAME_WORD_RE, REFERRING_PRONOUNS, coverage, idf_table,
                      lower_vocabulary, strip_possessive, terms)

# a word that refers back to the part before ("…, and has she …"); alternatives bounded, so their order is moot
REFERRING_PRONOUN_RE = re.compile(r"\b(?:" + "|".join(sorted(REFERRING_PRONOUNS)) + r")\b", re.IGNORECASE)
_NO_SUBJECT = re.compile(r"\W*(?:and\s+|but\s+)?also\b", re.IGNORECASE)


def answer_lines(question: str, docs: list[Doc], rules: ExtractiveRules = ExtractiveRules()) -> list[str]:
    """The reply's lines (without the offline label): quotes with [n], part headings, not-found lines; [] if none."""
    sources = sorted({d.source for d in docs if d.source})
    matcher = OutletMatcher(sources, lower_vocabulary(d.body for d in docs)) if sources else None
    parts = split_question(question, matcher)
    candidates = sentence_candidates(docs)
    idf = idf_table({t for t in c.terms if not t.startswith("@")} for c in candidates)  # answer types weigh
    # like a word no passage holds: a "when" part is answered by a sentence that gives a time
    q_terms = terms(question)
    known = _known_words(docs)
    present = {t for c in candidates for t in c.terms | c.title_terms}
    # A part naming someone no passage mentions is not answered; nor is one that goes on about that part's
    # subject ("…about Jane Roe, and has she also …", "…, also reported …") or borrows its clause ("B: <clause>").
    own = [bool(_missing_names(part, matcher, known)) for part in parts]
    unknown: list[bool] = []
    for i, part in enumerate(parts):
        unknown.append(own[i] or (i > 0 and unknown[-1] and _goes_on(blank_outlets_and_dates(part.text, matcher)))
                       or (part.borrows is not None and (unknown + own[i:])[part.borrows]))
    ranked = [[] if unknown[i] else rank(part, candidates, idf, q_terms, matcher, rules, present)
              for i, part in enumerate(parts)]
    limit = rules.max_single if len(parts) == 1 else rules.max_quotes
    picks = pick(ranked, limit, limit if len(parts) == 1 else rules.max_per_part)
    if not any(picks) or not _anchored(parts, picks, idf, matcher, rules.min_anchor):
        return []
    if len(parts) == 1:
        return [f"{c.sentence} [{c.n}]" for c in picks[0]]
    lines = [PARTS_NOTE.format(count=len(parts))]
    for i, (part, chosen) in enumerate(zip(parts, picks), start=1):
        if chosen:
            lines.append(f"Part {i}: {part.shown()}")
            lines.extend(f"{c.sentence} [{c.n}]" for c in chosen)
        else:
            lines.append(NOT_FOUND.format(part=part.shown()))
    if is_yes_no(question):
        lines.append(YES_NO_NOTE)
    return lines


def _anchored(parts: list[Part], picks: list[list[Candidate]], idf: dict[str, float],
              matcher: OutletMatcher | None, min_anchor: float) -> bool:
    """Whether some quote, with its title, holds `min_anchor` of its whole part's words at full weight. A quote
    passes the floors on its part's words that the passages hold (the others weigh little, see `ranker.rank`); when no
    quote holds even this share of all its part's words, the passages are about something else and the answer
    abstains."""
    for part, chosen in zip(parts, picks):
        words = part_terms(part.text, matcher) if chosen else []
        if any(coverage(words, c.terms | c.title_terms, idf) >= min_anchor for c in chosen):
            return True
    return False


def _goes_on(text: str) -> bool:
    """Whether a part (its outlets blanked) goes on about the subject of the part before it: it refers back ("he",
    "its"), or has no subject of its own ("…, also reported …", "Is also noted for …", a yes/no part)."""
    return is_yes_no(text) or bool(REFERRING_PRONOUN_RE.search(text) or _NO_SUBJECT.match(text))


def _known_words(docs: list[Doc]) -> set[str]:
    """The words of the passages, lower-cased and possessives stripped ("Baldur's" is known as "baldur")."""
    return {strip_possessive(w).lower() for d in docs for w in NAME_WORD_RE.findall(f"{d.title} {d.body}")}


def _missing_names(part: Part, matcher: OutletMatcher | None, known: set[str]) -> list[str]:
    """The names the part gives (capitalised words inside it, not outlets or calendar words) that no passage holds:
    a part about someone the articles never mention is not answered by a sentence about someone else."""
    text = blank_outlets_and_dates(part.text, matcher)
    names = []
    for match in NAME_WORD_RE.finditer(text):
        word = strip_possessive(match.group())
        before = text[:match.start()].rstrip()
        if (not word[:1].isupper() or not before or before[-1] in ".?!:;\"“'‘" or len(word) < 3
                or word.lower() in FUNCTION_WORDS or word.lower() in CALENDAR_WORDS):
            continue  # not a name, or a word capitalised only because it starts a sentence or a quote
        if word.lower() not in known and not _near(word.lower(), known):
            names.append(word)
    return names


def _near(word: str, known: set[str]) -> bool:
    """A spelling variant of a known word ("Zelensky" / "Zelenski"): one edit, two for long words."""
    limit = 2 if len(word) >= 8 else 1 if len(word) >= 5 else 0
    return bool(limit) and process.extractOne(word, known, scorer=Levenshtein.distance,
                                              score_cutoff=limit) is not None
