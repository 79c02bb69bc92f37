"""The offline answerer's ranker: each passage sentence a candidate, ranked for one part of the question by how
much of the part's words it covers (or one of its clauses' words), with its outlet and date window, and the answer
type a "when" / "where" / "how many" part wants; then the quotes picked, part by part, up to the limits."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answering.offline.reader import Doc
from rag.answering.offline.rules import ExtractiveRules
from rag.answering.parts import Part
from rag.retrieval.question import OutletMatcher, parse_dates
from rag.text import CALENDAR_WORDS, FRAMING_WORDS, LETTERS_RE, PART_CLAUSE_RE, coverage, split_sentences, terms

_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b|\b\d{1,2}(?::\d\d)?\s?[ap]\.?m\b|\b(?:yesterday|today|tonight|last (?:week|month|year))\b", re.I)
_PLACE = re.compile(r"\b(?:in|at|from|near|outside|inside)\s+(?:the\s+)?[A-Z][a-z]")
MIN_CLAUSE_TERMS = 3


@dataclass
class Candidate:
    """A passage sentence that might answer a part: its terms (with the answer types it gives), its article's."""

    n: int
    sentence: str
    terms: set[str]
    title_terms: set[str]
    source: str
    day: int | None
    position: int


def sentence_candidates(docs: list[Doc]) -> list[Candidate]:
    """Every sentence of every passage, in prompt order (`position` breaks ties: the earlier sentence)."""
    out = []
    for doc in docs:
        title_terms = set(terms(doc.title))
        for start, end in split_sentences(doc.body):
            sentence = doc.body[start:end].strip()
            out.append(Candidate(doc.n, sentence, set(terms(sentence)) | _answers_type(sentence), title_terms,
                                  doc.source, doc.day, len(out)))
    return out


def _answer_type(part: Part) -> str | None:
    """What kind of answer a "when" / "where" / "how many" part wants, if one of those."""
    words = LETTERS_RE.findall(part.text.lower())[:3]
    if "when" in words:
        return "@when"
    if "where" in words:
        return "@where"
    if "how" in words and ("many" in words or "much" in words):
        return "@number"
    return None


def _answers_type(sentence: str) -> set[str]:
    """The answer types a sentence can answer: a time, a place, a number."""
    found = set()
    if _YEAR.search(sentence) or any(w.lower() in CALENDAR_WORDS for w in LETTERS_RE.findall(sentence)):
        found.add("@when")
    if _PLACE.search(sentence):
        found.add("@where")
    if re.search(r"\d", sentence):
        found.add("@number")
    return found


def _clauses(text: str, by_clause: bool) -> list[str]:
    """The part itself, and with `by_clause` each of its clauses of at least MIN_CLAUSE_TERMS content words."""
    if not by_clause:
        return [text]
    pieces = [p for p in PART_CLAUSE_RE.split(text) if len(terms(p)) >= MIN_CLAUSE_TERMS]
    return [text] + (pieces if len(pieces) > 1 else [])


def part_terms(text: str, matcher: OutletMatcher | None) -> list[str]:
    """A part's (or clause's) content terms without the outlet names and dates it gives (matched, not covered) and
    without the words it uses to point at an article ("does the article suggest", "the report published on")."""
    return [t for t in terms(blank_outlets_and_dates(text, matcher)) if t not in FRAMING_WORDS]


def blank_outlets_and_dates(text: str, matcher: OutletMatcher | None) -> str:
    """The text with the outlet names and dates it gives blanked out (same length, so offsets still hold)."""
    for start, end, _, _ in (matcher.find(text) if matcher else []):
        text = text[:start] + " " * (end - start) + text[end:]
    for ref in parse_dates(text):
        text = text[:ref.start] + " " * (ref.end - ref.start) + text[ref.end:]
    return text


def rank(part: Part, candidates: list[Candidate], idf: dict[str, float], q_terms: list[str],
          matcher: OutletMatcher | None, rules: ExtractiveRules, present: set[str]) -> list[Candidate]:
    """The part's candidate sentences good enough to quote, best first.

    A word of the part that no passage holds (`present`: the passages' sentence and title terms) weighs
    `absent_weight` of the usual: it cannot tell one candidate from another, and at full weight a question that
    words things its own way ("the portrayal of …") would leave every sentence under the coverage floor. Names
    are not weighed down this way: a part naming someone no passage mentions is not answered at all
    (`answer._missing_names`)."""
    wanted = _answer_type(part)
    clauses = [part_terms(text, matcher) for text in _clauses(part.text, rules.by_clause)]
    clauses = [(t, t + [wanted] if wanted else t) for t in clauses if t]
    if not clauses:
        return []
    absent = idf.get("", 1.0) * rules.absent_weight
    idf = idf | {t: absent for plain, _ in clauses for t in plain if t not in present}
    rows = []
    for c in candidates:
        if part.sources and c.source not in part.sources:
            continue
        in_window = not part.windows or (c.day is not None and any(w.lo <= c.day <= w.hi for w in part.windows))
        if rules.strict_dates and not in_window:
            continue
        with_title, alone = max(((coverage(typed, c.terms | c.title_terms, idf), coverage(plain, c.terms, idf))
                                 for plain, typed in clauses if _holds_enough(plain, c.terms, rules.min_terms)),
                                default=(0.0, 0.0))
        if with_title < rules.min_coverage or alone < rules.min_sentence_coverage:
            continue
        rows.append(((in_window, round(with_title, 6), alone, coverage(q_terms, c.terms, idf), -c.position), c))
    rows.sort(key=lambda row: row[0], reverse=True)
    return [c for _, c in rows]


def _holds_enough(clause: list[str], sentence_terms: set[str], min_terms: int) -> bool:
    """Whether a sentence holds `min_terms` distinct words of a clause of 3 or more: one shared rare word (the
    part's "another", "startup") is not an answer."""
    unique = set(clause)
    return len(unique) < 3 or len(unique & sentence_terms) >= min_terms


def pick(ranked: list[list[Candidate]], limit: int, per_part: int) -> list[list[Candidate]]:
    """The best sentence of each part, then more in turn (other passages first) up to `limit` quotes in all."""
    picks: list[list[Candidate]] = [[] for _ in ranked]
    used: list[set[str]] = []
    total = 0
    for round_ in range(per_part):
        for i, rows in enumerate(ranked):
            if total >= limit:
                break
            for c in rows:
                if round_ and any(p.n == c.n for p in picks[i]) and _other_passages_left(rows, picks[i]):
                    continue  # another passage first
                if any(c is p for p in picks[i]) or (round_ and _near_duplicate(c.terms, used)):
                    continue
                picks[i].append(c)
                used.append(c.terms)
                total += 1
                break
    return picks


def _other_passages_left(rows: list[Candidate], chosen: list[Candidate]) -> bool:
    taken = {c.n for c in chosen}
    return any(c.n not in taken for c in rows)


def _near_duplicate(t: set[str], used: list[set[str]]) -> bool:
    return any(len(t & u) / max(1, len(t | u)) > 0.6 for u in used)
