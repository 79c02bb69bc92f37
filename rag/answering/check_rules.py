"""The message check's rules (rag.answering.check): does a candidate hold a claim, or state otherwise?

They reuse the citation check's (`rag.answering.claims`: numbers, polarity, names, roles next to a verb) and add
two that read a whole clause: who acts on whom from the order of the claim's two names (a passive "by" turns it
round), and who won from the result words between or after them ("beat", "win over" / "lost to", "defeat at").
The names are turned round only by a verb the claim relates them with standing between them in the quote (or
before them, in a passive "filed by A against B"); a passive with no "by" ("has been fired from OpenAI") says
nothing of who acted, so no rule on roles applies to it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from itertools import pairwise
from dataclasses import dataclass, replace

import numpy as np

from rag.answering.claims import (NEGATIONS, _SKIP_AFTER_NEGATION, Token, meaning_problem,
                                  name_problem, names, polarity_problem, role_problem,
                                  same_name, tokens)
from rag.answering.quantities import SCALES, describe, quantities, unsupported
from rag.schema import Passage
from rag.text import FUNCTION_WORDS, PASSIVE_AUXILIARIES, stem, terms

# result words: who won a match, a case, a vote ("defeat" the noun is a loss; "defeated" the verb a win)
WON = frozenset("beat beats won win wins victory victories defeated defeats thrashed edged outclassed outplayed "
                "routed crushed downed conquered conquers overcame upset stunned eliminated hammered outscored".split())
LOST = frozenset("lost lose loses losing defeat loss losses".split())
RELATION_BEFORE = 4  # words before the earlier name that may hold the verb relating them ("filed by A ... B")
NUMBER_CONFLICT = "the articles give a different"  # a number's or score's conflict (a support outweighs it)
MAX_UNHELD_CONFLICT = 1  # claim words a sentence may lack and still negate what the claim says
MAX_APART = 12  # words between two names that can still be one clause about them
AFTER_WINDOW = 8  # words after the second name a result word may describe it in ("X ... with a 1-0 victory")
LIGHT_VERBS = frozenset("make makes made making get gets got getting".split())
SHARED_PREFIX = 5  # letters two words must share to be one word in two forms ("knocked"/"knockout")
WORD_SIM = 0.55  # meaning similarity a quote's word needs to stand for a claim's word it lacks
NUMBER_WINDOW = 3
# between two names, a quotation mark or a bracket ends the clause ("... alternative to Google," Cue said)
CLAUSE_BREAKS = frozenset('"“”;()')
_NUMBER_OR_WORD = re.compile(r"\d+(?:[.,:]\d+)*%?|[A-Za-z][A-Za-z'’]*")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")
_PRONOUN = re.compile(r"(?:he|she|they|we|it)(?:['’]\w+)?$")  # a subject named only as a pronoun
_SCORE = re.compile(r"(?<![\d:])(\d{1,2})\s?[-–]\s?(\d{1,2})(?![\d:])")


Embed = Callable[[list[str]], np.ndarray]  # texts → unit vectors, one row each


@dataclass(frozen=True)
class Candidate:
    """A passage sentence (or two neighbouring ones), the sentences around it with the title, how close it is to
    the claim in weighted words and in meaning (`sim`: the embedder's cosine, else the words' share), and the
    article's retrieved text."""

    passage: Passage
    quote: str
    context: str
    words: float
    sim: float
    article: str  # every retrieved passage of its article: where the rest of a name ("Joseph" Parker) may be

    def scored(self, sim: float) -> Candidate:
        return replace(self, sim=sim)


def holds(claim: str, c: Candidate, embed: Embed | None = None) -> bool:
    """The candidate says what the claim says: no rule objects, its scores are the claim's, and every word of
    the claim but its names is in it, or (with an embedder) a word close in meaning ("knocked out"/"knockout")."""
    reversed_reason, result_unstated = role_check(claim, c)
    if meaning_problem(claim, c.quote, c.context, c.article, claim) or reversed_reason or result_unstated:
        return False
    if not scores(claim) <= scores(c.quote):
        return False
    missing = unheld_words(claim, c.quote + " " + c.passage.title, c.article)
    return not missing or (embed is not None and not unmatched_meanings(missing, c.quote, embed))


def holds_every_word(claim: str, c: Candidate) -> bool:
    """The candidate holds every word of the claim in some form: support however far its meaning scores."""
    return not unheld_words(claim, c.quote + " " + c.passage.title, c.article)


def conflict(claim: str, c: Candidate, embed: Embed | None = None) -> str:
    """Why the candidate, about the same people and things, states otherwise: a different number of the same
    kind, a negation flipped, the names' roles swapped, a result reversed; "" when it does not (or is not about
    the claim's names)."""
    claim_toks, quote_toks = tokens(claim, c.article), tokens(c.quote, c.article + " " + claim)
    if name_problem(claim_toks, quote_toks, c.quote, c.quote + " " + c.context, c.article):
        return ""
    if not all(_positions(quote_toks, words[-1]) for words in names(claim_toks).values()):
        return ""  # a number or a verb said of someone else is no contradiction
    other = _other_score(claim, c.quote)
    if other:
        return f"{NUMBER_CONFLICT} score: {other}"
    # a number the quote lacks but the article gives next to the same words is the article's too: no conflict
    missing = [q for q in unsupported(claim, c.quote) if q not in stated_numbers(claim, c.article)]
    kinds = {_kind(q) for q in quantities(c.quote)}
    if any(_kind(q) in kinds for q in missing) and _numbers_share_words(claim, c.quote):
        return f"{NUMBER_CONFLICT} number than the claim's " + ", ".join(_say(q) for q in missing)
    named = {t.stem for t in claim_toks if t.name is not None}
    polarity = polarity_problem(claim_toks, quote_toks)
    # a negation contradicts only on the same thing: "without Apple's help" negates no name, and a sentence
    # lacking more than `MAX_UNHELD_CONFLICT` of the claim's words negates something else
    if polarity and not any(f"'{word}'" in polarity for word in named) and _same_thing(claim, c, embed):
        return polarity
    return role_problem(claim_toks, quote_toks, claim_toks) or role_check(claim, c)[0]


def _same_thing(claim: str, c: Candidate, embed: Embed | None) -> bool:
    """The quote lacks at most `MAX_UNHELD_CONFLICT` of the claim's words, in form or (with an embedder) in
    meaning ("wasn't fired"/"had been dismissed"): a negation of it is about what the claim says."""
    missing = [w for w in unheld_words(claim, c.quote + " " + c.passage.title, c.article) if w not in NEGATIONS
               and w not in _SKIP_AFTER_NEGATION]  # the negation itself is what differs, not a lacking word
    if len(missing) <= MAX_UNHELD_CONFLICT:
        return True
    return embed is not None and len(unmatched_meanings(missing, c.quote, embed)) <= MAX_UNHELD_CONFLICT


def unheld_words(claim: str, quote: str, passage: str = "") -> list[str]:
    """The claim's words (as written), names and numbers aside, that the quote holds in no form: not the same
    stem, not a word sharing its first `SHARED_PREFIX` letters ("knocked"/"knockout"), not a part of a hyphened
    word ("round"/"first-round"), and for a result word ("beat"), no result word of the same side."""
    toks = tokens(claim, passage)
    named = {t.stem for t in toks if t.name is not None}
    quote_lower = {w.lower() for w in _WORD.findall(quote)}
    held = set(terms(quote)) | set(terms(quote.replace("-", " ")))
    missing = []
    for i, t in enumerate(toks):
        if (t.lower == "going" and i + 1 < len(toks) and toks[i + 1].lower == "to") or t.lower in LIGHT_VERBS:
            continue  # "is going to be" says "will be"; "made a net income" says "had" (the noun says what)
        if (t.name is not None or not t.text[:1].isalpha() or t.lower in FUNCTION_WORDS or t.stem in named
                or not terms(t.text) or t.stem in held or any(_shares_prefix(t.lower, w) for w in quote_lower)):
            continue
        if (t.lower in WON and quote_lower & WON) or (t.lower in LOST and quote_lower & LOST):
            continue
        missing.append(t.lower)
    return list(dict.fromkeys(missing))


def unmatched_meanings(words: list[str], quote: str, embed: Embed) -> list[str]:
    """Of the claim's `words` the quote lacks, those with no quote word within `WORD_SIM` in meaning."""
    quote_words = list(dict.fromkeys(w.lower() for w in _WORD.findall(quote) if w.lower() not in FUNCTION_WORDS))
    if not quote_words:
        return words
    vectors = embed(words + quote_words)
    close = (vectors[:len(words)] @ vectors[len(words):].T).max(axis=1)
    return [w for w, sim in zip(words, close) if sim < WORD_SIM]


def _numbers_share_words(claim: str, quote: str) -> bool:
    """A number of the claim that the quote lacks and a different one of the quote count the same thing: the
    same kind, and a word next to each (within `NUMBER_WINDOW` words) is the same ("17 points"/"14 points",
    "net income of $512"/"net income of $221")."""
    theirs = _numbers(quote)
    have = quantities(quote)
    for values, kinds, near in _numbers(claim):
        if values <= have:
            continue
        if any(kinds & k and not values & v and near & n for v, k, n in theirs):
            return True
    return False


def stated_numbers(claim: str, text: str, shared: int = 1) -> set[tuple]:
    """The claim's numbers that `text` gives with `shared` of the same words next to them (within `NUMBER_WINDOW`
    words: "a six-hour window"/"a 6 hour window"), however far from the quote."""
    theirs = _numbers(text)
    return {q for values, _, near in _numbers(claim) for v, _, n in theirs if values & v and len(near & n) >= shared
            for q in values & v}


def _numbers(text: str) -> list[tuple[frozenset, set[str], set[str]]]:
    """Each number written in digits: its quantities, their kinds and the word stems around it."""
    words = _NUMBER_OR_WORD.findall(text)
    out = []
    for i, w in enumerate(words):
        if not w[:1].isdigit():
            continue
        values = quantities(" ".join(words[i:i + 3]))
        near = {stem(v.lower()) for v in words[max(0, i - NUMBER_WINDOW):i + NUMBER_WINDOW + 1]
                if not v[:1].isdigit() and v.lower() not in FUNCTION_WORDS and v.lower() not in SCALES}
        if values:
            out.append((values, {_kind(q) for q in values}, near))
    return out


def _other_score(claim: str, quote: str) -> str:
    """A score of the quote, next to a word of a claim's score it lacks ("3-3 at RB Leipzig"/"2-2 draw at RB
    Leipzig"), or ""."""
    theirs = [(score, _around(quote, m)) for m in _SCORE.finditer(quote) for score in [f"{m[1]}-{m[2]}"]]
    have = {score for score, _ in theirs}
    for m in _SCORE.finditer(claim):
        near = _around(claim, m)
        if f"{m[1]}-{m[2]}" not in have:
            for score, words in theirs:
                if near & words:
                    return score
    return ""


def _around(text: str, m: re.Match) -> set[str]:
    words = _WORD.findall(text[:m.start()])[-NUMBER_WINDOW:] + _WORD.findall(text[m.end():])[:NUMBER_WINDOW]
    return {stem(w.lower()) for w in words if w.lower() not in FUNCTION_WORDS}


def scores(text: str) -> set[str]:
    """The text's match scores ("4-1", "2–2"), as "4-1"."""
    return {f"{a}-{b}" for a, b in _SCORE.findall(text)}


def _say(q: tuple) -> str:
    """A quantity as a person writes it ("512 million", "11%")."""
    if q[0] == "n":
        for size, word in ((1e12, " trillion"), (1e9, " billion"), (1e6, " million")):
            if q[1] >= size:
                return f"{q[1] / size:g}{word}"
    return describe(q)


def _kind(q: tuple) -> str:
    """What a quantity counts: a year is not a count, nor a percentage an amount."""
    return "year" if q[0] == "n" and float(q[1]).is_integer() and 1900 <= q[1] <= 2100 else q[0]


def _shares_prefix(a: str, b: str) -> bool:
    n = min(len(a), len(b))
    return n >= SHARED_PREFIX and a[:SHARED_PREFIX] == b[:SHARED_PREFIX] and a != b


# ---- who did what to whom, across the clause ------------------------------------------------------


def role_check(claim: str, c: Candidate) -> tuple[str, bool]:
    """Whether the quote has the claim's first two names related by a verb ("A beat B", "A filed a suit against
    B") in the opposite roles: B before A in the same voice, or the result reversed ("B's win over A", "A's
    defeat at B"), as a reason ("" if not); and whether the claim says who won but the quote, holding both
    names, does not (or the quote lacks a name, or has them the other way round: no support either way)."""
    claim_toks = tokens(claim, c.article)
    pair = _related_pair(claim_toks)
    if pair is None:
        return "", False
    a, b, between = pair
    quote_toks = tokens(c.quote, c.article + " " + claim)
    found = _closest(quote_toks, a, b)
    if found is None:  # a quote naming one party only (the other in its context) cannot say who did what to whom
        return "", True
    ia, ib = found
    claim_outcome = _result(between) * (-1 if _passive(between) else 1)
    lo, hi = sorted((ia, ib))
    source_between = quote_toks[lo + 1:hi]
    forward = (ia < ib) != _passive(source_between)
    source_outcome = _result(source_between) * (1 if forward else -1)
    if not source_outcome:  # "A ... with B's 1-0 victory": a result word right after the later name is its own
        source_outcome = -_result(quote_toks[hi + 1:hi + 1 + AFTER_WINDOW]) * (1 if ia < ib else -1)
    if claim_outcome:
        if source_outcome and claim_outcome != source_outcome:
            return f"has {a.title()} and {b.title()} the other way round in the result", False
        return "", not source_outcome
    if _agentless_passive(between) or _agentless_passive(source_between):
        return "", False  # who acts on whom is not said by the order of the names: no rule on roles
    unstated = _order_unstated(quote_toks, a, b, forward, between)
    start = lo
    while start > 0 and quote_toks[start - 1].name == quote_toks[lo].name:
        start -= 1  # from the first word of the earlier name
    # the relating verb stands between the names, or before them only in a passive ("filed by A against B")
    before = quote_toks[max(0, start - RELATION_BEFORE):start]
    relation = {t.stem for t in (before if _passive(before) else []) + quote_toks[lo + 1:hi]}
    verbs = {t.stem for t in between if t.lower not in FUNCTION_WORDS}
    one_clause = hi - lo <= MAX_APART and not any(t.text in CLAUSE_BREAKS for t in source_between)
    if forward == _passive(between) and one_clause and relation & verbs:
        return f"has {a.title()} and {b.title()} the other way round", False
    return "", unstated


def _order_unstated(quote_toks: list[Token], a: str, b: str, forward: bool, between: list[Token]) -> bool:
    """Whether the quote leaves the claim's "a acts on b" unsaid: the names the other way round (no passive "by"
    turning them back) where they stand closest or where each is first named (the subject comes first), or a
    pronoun before the actor's first mention that may be the one acting ("he'd forced out ... Dave Clark")."""
    fa, fb = min(_positions(quote_toks, a)), min(_positions(quote_toks, b))
    first_forward = (fa < fb) != _passive(quote_toks[min(fa, fb) + 1:max(fa, fb)])
    passive = _passive(between)
    actor = fb if passive else fa
    pronoun_first = any(_PRONOUN.match(t.lower) for t in quote_toks[:actor])
    return forward == passive or first_forward == passive or pronoun_first


def _closest(toks: list[Token], a: str, b: str) -> tuple[int, int] | None:
    """The positions of names `a` and `b` in the quote where they stand closest together."""
    pa, pb = _positions(toks, a), _positions(toks, b)
    if not pa or not pb:
        return None
    return min(((i, j) for i in pa for j in pb), key=lambda ij: abs(ij[0] - ij[1]))


def _related_pair(toks: list[Token]) -> tuple[str, str, list[Token]] | None:
    """The heads of the first two neighbouring names with a content word between them, and the words between."""
    spans = names(toks)
    order = sorted(spans)
    for k1, k2 in pairwise(order):
        end = max(i for i, t in enumerate(toks) if t.name == k1)
        start = min(i for i, t in enumerate(toks) if t.name == k2)
        between = toks[end + 1:start]
        related = any(t.stem[:1].isalpha() and t.lower not in FUNCTION_WORDS for t in between)
        if related and not same_name(spans[k1][-1], spans[k2][-1]):
            return spans[k1][-1], spans[k2][-1], between
    return None


def _positions(toks: list[Token], head: str) -> list[int]:
    return [i for i, t in enumerate(toks) if t.name is not None and same_name(t.lower.replace(".", ""), head)]


def _passive(between: list[Token]) -> bool:
    return any(t.lower == "by" for t in between)


def _agentless_passive(between: list[Token]) -> bool:
    """A form of "be" or "get" before a past participle with no "by" ("has been fired from OpenAI", "got named
    Time's Person of the Year"): the first name is acted on, but the second need not be the one acting."""
    return not _passive(between) and any(t.lower in PASSIVE_AUXILIARIES and nxt.lower.endswith(("ed", "en"))
                                         and nxt.lower not in PASSIVE_AUXILIARIES for t, nxt in pairwise(between))


def _result(toks: list[Token]) -> int:
    """+1 if the words say the first side won, -1 lost, 0 neither (or both)."""
    won = any(t.lower in WON for t in toks)
    lost = any(t.lower in LOST for t in toks)
    return int(won) - int(lost)
