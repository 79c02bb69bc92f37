"""The offline extractive answer: the question split into its parts, each answered by one quoted sentence.

The stub model (`rag.answering.models.ExtractiveStubModel`) reads the prompt's `<doc>` passages and `<question>`, splits the
question with `rag.answering.parts` (outlets matched against the passages' own sources), and for each part quotes the
sentence that best covers the part's words (or one of its clauses' words), from a passage of the outlet the part
names, preferring its date window. A "when" part wants a sentence that gives a time, a "where" part a place, a
"how many" part a number. The words a question uses to point at an article ("does the article suggest") are not
matched, and words no passage holds weigh little (`_rank`). A part that names someone no passage mentions (or goes
on about that part's subject), or that has no sentence covering `min_coverage` of its words, gets its own "not
found" line; an answer none of whose quotes holds `min_anchor` of its part's words abstains. A yes/no question is
not answered yes or no: the quotes for each side are shown. The chain checks the quoted lines with
`check_citations`, like any model's reply, and `check_part_reply` puts the checked lines back under their parts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from rag.answering.parts import Part, is_yes_no, split_question
from rag.retrieval.question import OutletMatcher, parse_dates
from rag.text import lower_vocabulary
from rag.schema import Answer, Passage
from rag.text import date_to_int
from rag.text import (CALENDAR_WORDS, FRAMING_WORDS, FUNCTION_WORDS, coverage, idf_table, split_sentences,
                      strip_possessive, terms)

NOT_FOUND = "Not found in the articles: “{part}”"
PARTS_NOTE = "Answered part by part ({count} parts); each quote is from the articles."
YES_NO_NOTE = "Not answered yes or no: compare the quoted evidence for each part."
MAX_QUOTES = 4
_PART_HEAD = re.compile(r"^Part (\d+): (.*)$")
_NOT_FOUND_HEAD = NOT_FOUND.split("“")[0]
_DOC = re.compile(r"<doc id='(\d+)'([^>]*)>\n?(.*?)\n?</doc>", re.DOTALL)
_ATTR = re.compile(r"(\w+)='([^']*)'")
_QUESTION = re.compile(r"<question>(.*?)</question>", re.DOTALL)
_YEAR = re.compile(r"\b(?:1[89]|20)\d\d\b|\b\d{1,2}(?::\d\d)?\s?[ap]\.?m\b|\b(?:yesterday|today|tonight|last (?:week|month|year))\b", re.I)
_PLACE = re.compile(r"\b(?:in|at|from|near|outside|inside)\s+(?:the\s+)?[A-Z][a-z]")
_NAME_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’]s)?")
_CLAUSE = re.compile(r",\s*(?:and\s+|while\s+|but\s+|which\s+|who\s+)?|\s+(?:and|while|but)\s+"
                     r"(?=(?:is|was|are|were|has|had|have|also|does|did)\b)", re.IGNORECASE)
MIN_CLAUSE_TERMS = 3
_MARKER_RUN = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")
_PRONOUN = re.compile(r"\b(?:he|his|him|she|her|hers|they|their|them|its)\b", re.IGNORECASE)
_NO_SUBJECT = re.compile(r"\W*(?:and\s+|but\s+)?also\b", re.IGNORECASE)


@dataclass(frozen=True)
class Doc:
    """A numbered passage as the prompt shows it."""

    n: int
    title: str
    source: str
    day: int | None
    body: str


@dataclass(frozen=True)
class Settings:
    """How strict the answerer is (the stub model's fields)."""

    min_coverage: float = 0.25  # of a part's weighted terms, by the sentence plus its article's title
    min_sentence_coverage: float = 0.2  # by the sentence alone, so a good title can't carry an off-topic line
    min_terms: int = 2  # distinct terms of a part (or clause) of 3 or more that a sentence must hold
    absent_weight: float = 0.25  # weight of a part's word that no passage holds, against the usual idf
    min_anchor: float = 0.14  # of its part's words at full weight, held by at least one quote of the answer
    max_single: int = MAX_QUOTES  # quotes for a question of one part
    max_quotes: int = MAX_QUOTES  # quotes for a question of several parts
    max_per_part: int = 4  # quotes for one part of several (still at most max_quotes in all; dev: +0.4 pt)
    strict_dates: bool = False  # a part's date window excludes passages outside it (else it only ranks)
    by_clause: bool = True  # a sentence may answer one clause of a part ("…, runs promotions, and is expected …")


@dataclass
class _Candidate:
    n: int
    sentence: str
    terms: set[str]
    title_terms: set[str]
    source: str
    day: int | None
    position: int


def read_prompt(prompt: str) -> tuple[str | None, list[Doc]]:
    """The question and the numbered passages of a prompt in the answer.md format."""
    question = _QUESTION.search(prompt)
    docs = []
    for n, attrs, body in _DOC.findall(prompt):
        fields = dict(_ATTR.findall(attrs))
        docs.append(Doc(int(n), fields.get("title", ""), fields.get("source", ""), _day(fields.get("date")), body))
    return (question.group(1).strip() if question else None), docs


def _day(value: str | None) -> int | None:
    try:
        from datetime import date

        return date_to_int(date.fromisoformat(value or ""))
    except ValueError:
        return None


def answer_lines(question: str, docs: list[Doc], settings: Settings = Settings()) -> list[str]:
    """The reply's lines (without the offline label): quotes with [n], part headings, not-found lines; [] if none."""
    sources = sorted({d.source for d in docs if d.source})
    matcher = OutletMatcher(sources, lower_vocabulary(d.body for d in docs)) if sources else None
    parts = split_question(question, matcher)
    candidates = _candidates(docs)
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
        unknown.append(own[i] or (i > 0 and unknown[-1] and _goes_on(_blank_outlets_and_dates(part.text, matcher)))
                       or (part.borrows is not None and (unknown + own[i:])[part.borrows]))
    ranked = [[] if unknown[i] else _rank(part, candidates, idf, q_terms, matcher, settings, present)
              for i, part in enumerate(parts)]
    limit = settings.max_single if len(parts) == 1 else settings.max_quotes
    picks = _pick(ranked, limit, limit if len(parts) == 1 else settings.max_per_part)
    if not any(picks) or not _anchored(parts, picks, idf, matcher, settings.min_anchor):
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


def _anchored(parts: list[Part], picks: list[list[_Candidate]], idf: dict[str, float],
              matcher: OutletMatcher | None, min_anchor: float) -> bool:
    """Whether some quote, with its title, holds `min_anchor` of its whole part's words at full weight. A quote
    passes the floors on its part's words that the passages hold (the others weigh little, see `_rank`); when no
    quote holds even this share of all its part's words, the passages are about something else and the answer
    abstains."""
    for part, chosen in zip(parts, picks):
        words = _part_terms(part.text, matcher) if chosen else []
        if any(coverage(words, c.terms | c.title_terms, idf) >= min_anchor for c in chosen):
            return True
    return False


def _goes_on(text: str) -> bool:
    """Whether a part (its outlets blanked) goes on about the subject of the part before it: it refers back ("he",
    "its"), or has no subject of its own ("…, also reported …", "Is also noted for …", a yes/no part)."""
    return is_yes_no(text) or bool(_PRONOUN.search(text) or _NO_SUBJECT.match(text))


def _candidates(docs: list[Doc]) -> list[_Candidate]:
    out = []
    for doc in docs:
        title_terms = set(terms(doc.title))
        for start, end in split_sentences(doc.body):
            sentence = doc.body[start:end].strip()
            out.append(_Candidate(doc.n, sentence, set(terms(sentence)) | _answers_type(sentence), title_terms,
                                  doc.source, doc.day, len(out)))
    return out


def _known_words(docs: list[Doc]) -> set[str]:
    """The words of the passages, lower-cased and possessives stripped ("Baldur's" is known as "baldur")."""
    return {strip_possessive(w).lower() for d in docs for w in _NAME_WORD.findall(f"{d.title} {d.body}")}


def _missing_names(part: Part, matcher: OutletMatcher | None, known: set[str]) -> list[str]:
    """The names the part gives (capitalised words inside it, not outlets or calendar words) that no passage holds:
    a part about someone the articles never mention is not answered by a sentence about someone else."""
    text = _blank_outlets_and_dates(part.text, matcher)
    names = []
    for match in _NAME_WORD.finditer(text):
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


def _answer_type(part: Part) -> str | None:
    """What kind of answer a "when" / "where" / "how many" part wants, if one of those."""
    words = re.findall(r"[a-z]+", part.text.lower())[:3]
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
    if _YEAR.search(sentence) or any(w.lower() in CALENDAR_WORDS for w in re.findall(r"[A-Za-z]+", sentence)):
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
    pieces = [p for p in _CLAUSE.split(text) if len(terms(p)) >= MIN_CLAUSE_TERMS]
    return [text] + (pieces if len(pieces) > 1 else [])


def _part_terms(text: str, matcher: OutletMatcher | None) -> list[str]:
    """A part's (or clause's) content terms without the outlet names and dates it gives (matched, not covered) and
    without the words it uses to point at an article ("does the article suggest", "the report published on")."""
    return [t for t in terms(_blank_outlets_and_dates(text, matcher)) if t not in FRAMING_WORDS]


def _blank_outlets_and_dates(text: str, matcher: OutletMatcher | None) -> str:
    """The text with the outlet names and dates it gives blanked out (same length, so offsets still hold)."""
    for start, end, _, _ in (matcher.find(text) if matcher else []):
        text = text[:start] + " " * (end - start) + text[end:]
    for ref in parse_dates(text):
        text = text[:ref.start] + " " * (ref.end - ref.start) + text[ref.end:]
    return text


def _rank(part: Part, candidates: list[_Candidate], idf: dict[str, float], q_terms: list[str],
          matcher: OutletMatcher | None, settings: Settings, present: set[str]) -> list[_Candidate]:
    """The part's candidate sentences good enough to quote, best first.

    A word of the part that no passage holds (`present`: the passages' sentence and title terms) weighs
    `absent_weight` of the usual: it cannot tell one candidate from another, and at full weight a question that
    words things its own way ("the portrayal of …") would leave every sentence under the coverage floor. Names
    are not weighed down this way: a part naming someone no passage mentions is not answered at all
    (`_missing_names`)."""
    wanted = _answer_type(part)
    clauses = [_part_terms(text, matcher) for text in _clauses(part.text, settings.by_clause)]
    clauses = [(t, t + [wanted] if wanted else t) for t in clauses if t]
    if not clauses:
        return []
    absent = idf.get("", 1.0) * settings.absent_weight
    idf = idf | {t: absent for plain, _ in clauses for t in plain if t not in present}
    rows = []
    for c in candidates:
        if part.sources and c.source not in part.sources:
            continue
        in_window = not part.windows or (c.day is not None and any(w.lo <= c.day <= w.hi for w in part.windows))
        if settings.strict_dates and not in_window:
            continue
        with_title, alone = max(((coverage(typed, c.terms | c.title_terms, idf), coverage(plain, c.terms, idf))
                                 for plain, typed in clauses if _holds_enough(plain, c.terms, settings.min_terms)),
                                default=(0.0, 0.0))
        if with_title < settings.min_coverage or alone < settings.min_sentence_coverage:
            continue
        rows.append(((in_window, round(with_title, 6), alone, coverage(q_terms, c.terms, idf), -c.position), c))
    rows.sort(key=lambda row: row[0], reverse=True)
    return [c for _, c in rows]


def _holds_enough(clause: list[str], sentence_terms: set[str], min_terms: int) -> bool:
    """Whether a sentence holds `min_terms` distinct words of a clause of 3 or more: one shared rare word (the
    part's "another", "startup") is not an answer."""
    unique = set(clause)
    return len(unique) < 3 or len(unique & sentence_terms) >= min_terms


def _pick(ranked: list[list[_Candidate]], limit: int, per_part: int) -> list[list[_Candidate]]:
    """The best sentence of each part, then more in turn (other passages first) up to `limit` quotes in all."""
    picks: list[list[_Candidate]] = [[] for _ in ranked]
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


def _other_passages_left(rows: list[_Candidate], chosen: list[_Candidate]) -> bool:
    taken = {c.n for c in chosen}
    return any(c.n not in taken for c in rows)


def _near_duplicate(t: set[str], used: list[set[str]]) -> bool:
    return any(len(t & u) / max(1, len(t | u)) > 0.6 for u in used)


def is_part_reply(reply: str) -> bool:
    """Whether a reply is the stub's part-by-part answer (it then goes through `check_part_reply`)."""
    return any(line.startswith(PARTS_NOTE.split("(")[0]) for line in reply.splitlines())


def check_part_reply(reply: str, passages: list[Passage], model: str,
                     check: Callable[[str, list[Passage], str], Answer]) -> Answer:
    """Check a part-by-part reply's quoted lines with `check` (the chain's citation check), then put each checked
    line back under its part; a part whose lines were all dropped says it was not found."""
    blocks: list[tuple[str, list[str]]] = []  # (heading or not-found line, its quoted lines)
    notes: list[str] = []
    label = ""
    for line in (raw.strip() for raw in reply.splitlines()):
        if not line:
            continue
        if line.startswith(PARTS_NOTE.split("(")[0]) or line == YES_NO_NOTE:
            notes.append(line)
        elif _PART_HEAD.match(line) or line.startswith(_NOT_FOUND_HEAD):
            blocks.append((line, []))
        elif blocks:
            blocks[-1][1].append(line)
        else:
            label = line  # the offline label before the first part
    claims = [line for _, lines in blocks for line in lines]
    checked = check("\n".join([label, *claims]) if label else "\n".join(claims), passages, model)
    if checked.abstained:
        return checked
    kept = [line for line in checked.answer.splitlines() if line.strip() and line.strip() != label]
    placed = _place(kept, blocks)
    lines = [label] if label else []
    lines += [notes[0]] if notes else []
    for (head, _), got in zip(blocks, placed):
        match = _PART_HEAD.match(head)
        if match and got:
            lines += [head, *got]
        elif match:
            lines.append(NOT_FOUND.format(part=match.group(2)))
        else:
            lines.append(head)
    lines += notes[1:]
    checked.answer = "\n".join(lines)
    return checked


def _place(kept: list[str], blocks: list[tuple[str, list[str]]]) -> list[list[str]]:
    """Each checked line under the block whose quoted line it is (in order; an unrecognised one stays with the
    last block placed)."""
    owners = [(i, _bare(line)) for i, (_, lines) in enumerate(blocks) for line in lines]
    placed: list[list[str]] = [[] for _ in blocks]
    cursor, last = 0, max((i for i, (_, lines) in enumerate(blocks) if lines), default=0)
    for line in kept:
        bare = _bare(line)
        for j in range(cursor, len(owners)):
            owner, text = owners[j]
            if bare and (bare == text or bare in text or text in bare):
                cursor, last = j + 1, owner
                break
        placed[last].append(line)
    return placed


def _bare(line: str) -> str:
    return _MARKER_RUN.sub("", line).strip()
