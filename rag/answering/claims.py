"""Does a cited sentence say what a claim says? Word overlap, then the parts of meaning overlap can't see.

A claim (one reply sentence, or one clause of it) is supported by a sentence of its cited passage when
1. the sentence holds enough of the claim's weighted words (`rag.text.coverage`);
2. every number, amount, percentage and date of the claim is one of the sentence's (`rag.answering.quantities`);
3. its polarity agrees: a word the claim negates is not asserted by the sentence, and the reverse;
4. its named people, organisations and places are in the sentence (or the two before it, the one after it, or
   the title), and
   the rest of each name somewhere in the passage;
5. who did what to whom agrees where it can be read: the name right before a verb is its actor, the name
   right after it its object ("was warned by" swaps them); a verb whose actor (or object) in the claim differs
   from the source's, where both names are in both sentences, is a swap.

Deterministic rules, no parser: no NLI cross-encoder ships as an ONNX model inside a PyPI wheel we can install
offline (the NLI packages on PyPI fetch their weights from a model hub at run time), and the spaCy English
models on PyPI are unofficial re-uploads. Each rule gives a reason a person can read, which the checker logs at
DEBUG when it drops a claim. What the rules catch and miss on perturbed dev-corpus claims: docs/benchmarks.md.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from rag.answering.quantities import describe, unsupported
from rag.text import (AUXILIARIES, CALENDAR_WORDS, CLAIM_TOKEN_RE, FUNCTION_WORDS, PASSIVE_AUXILIARIES,
                      PERSONAL_PRONOUNS, coverage, split_sentences, stem, strip_possessive, terms)

MIN_SUPPORT = 0.2  # share of a claim's weighted terms its quoted sentence must contain
MIN_CLAUSE_SUPPORT = 0.5  # stricter for a claim's later clauses (an appended rider shares few words)
NEAR_BEST = 0.75  # a sentence this close in words to the best one may support the claim in its stead
PAIR_GAIN = 0.05  # two sentences together must hold this much more of the claim than the best single one
CONTEXT_SENTENCES = 2  # a name may come from this many sentences before the quoted one ("He" in the quote), or
# from the one after it (a claim that joins two sentences of its source)

NEGATIONS = frozenset("not n't never no none nobody nothing neither nor without cannot".split())
_SKIP_AFTER_NEGATION = frozenset("yet even ever also only still really always further longer".split())
_PREPOSITIONS = frozenset("in at on of from to with against for by about into onto over under near across between "
                          "among toward towards".split())
_DE_CONTRACT = re.compile(r"n['’]t\b", re.IGNORECASE)


@dataclass(frozen=True)
class Token:
    text: str
    lower: str
    stem: str
    name: int | None = None  # index of the name span this word belongs to


@dataclass(frozen=True)
class Verdict:
    """Whether a sentence of the passage supports the claim, the quote, and if not, why."""

    supported: bool
    score: float
    quote: str
    reason: str = ""


def judge(claim: str, sentences: list[tuple[str, set[str]]], idf: dict[str, float], passage: str, title: str = "",
          threshold: float = MIN_SUPPORT, sentence: str = "") -> Verdict:
    """The passage sentence that best supports `claim` (a clause of the reply `sentence`), or why none does.

    The sentences closest in words are tried, best first; one that objects (a wrong number, a swap) is not
    outvoted by a sentence much further away. Two consecutive sentences count as one candidate when together
    they hold clearly more of the claim than either (a claim that joins them)."""
    claim_terms = terms(claim)
    singles = [(coverage(claim_terms, t, idf), i, i + 1) for i, (_, t) in enumerate(sentences)]
    top_single = max((score for score, _, _ in singles), default=0.0)
    pairs = [(coverage(claim_terms, sentences[i][1] | sentences[i + 1][1], idf), i, i + 2)
             for i in range(len(sentences) - 1)]
    ranked = sorted(singles + [p for p in pairs if p[0] >= top_single + PAIR_GAIN], reverse=True)
    top = ranked[0][0] if ranked else 0.0
    first: Verdict | None = None
    for score, start, end in ranked[:3]:
        if score < threshold or score < top * NEAR_BEST:
            break
        quote = " ".join(s for s, _ in sentences[start:end])
        context = " ".join(s for s, _ in sentences[max(0, start - CONTEXT_SENTENCES):end + 1]) + " " + title
        # of two sentences joined, the one holding more of the claim is the one whose names it must keep
        main = quote if end - start == 1 else max(sentences[start:end],
                                                   key=lambda st: coverage(claim_terms, st[1], idf))[0]
        reason = meaning_problem(claim, quote, context, passage, sentence, main)
        if not reason:
            return Verdict(True, score, quote)
        first = first or Verdict(False, score, quote, reason)
    return first or Verdict(False, top, "", f"shares only {top:.0%} of its weighted words with any sentence")


def meaning_problem(claim: str, sentence: str, context: str = "", passage: str = "", whole: str = "",
                    main: str = "") -> str:
    """Why `sentence` does not say what `claim` (a clause of the reply sentence `whole`) says, or "" if no rule
    objects. When `sentence` is two sentences joined, `main` is the one that holds more of the claim: a name
    from the other one counts as a name from the context (`name_problem`)."""
    missing = unsupported(claim, sentence)
    if missing:
        return "quantity not in the source: " + ", ".join(describe(q) for q in missing)
    # a word the claim has as a name mid-sentence is a name at the start of a source sentence too
    seen = passage + " " + claim
    claim_tokens, source_tokens = tokens(claim, passage), tokens(sentence, seen)
    main = main or sentence
    main_tokens = source_tokens if main == sentence else tokens(main, seen)
    return (polarity_problem(claim_tokens, source_tokens)
            or name_problem(claim_tokens, main_tokens, main, sentence + " " + context, passage)
            or role_problem(claim_tokens, source_tokens, tokens(whole, passage) if whole else claim_tokens))


# ---- words and names -----------------------------------------------------------------------------


def tokens(text: str, passage: str = "") -> list[Token]:
    """Words and stopping punctuation, with runs of capitalised words marked as names."""
    raw = CLAIM_TOKEN_RE.findall(_DE_CONTRACT.sub(" not", text))
    out: list[Token] = []
    span, previous_name = -1, False
    for i, word in enumerate(raw):
        word = strip_possessive(word).rstrip(".")
        lower = word.lower()
        named = _is_name(word, i == 0 or raw[i - 1] in ('"', "“", "("), passage + " " + text)
        if named and not previous_name:
            span += 1
        out.append(Token(word, lower, stem(lower) if word[:1].isalnum() else word, span if named else None))
        previous_name = named
    return out


_INNER_CAPITAL = re.compile(r"[a-z]{1,2}[A-Z][a-z]")  # a brand written "iRobot", "eBay" is a name too


def _is_name(word: str, first: bool, seen_in: str) -> bool:
    bare = re.sub(r"['’](m|ll|d|ve|re)$", "", word.lower())
    if (not (word[:1].isupper() or _INNER_CAPITAL.match(word)) or bare in FUNCTION_WORDS or bare in CALENDAR_WORDS
            or bare == "i"):
        return False
    if not first:
        return True
    # a sentence's first word is a name only if it is capitalised elsewhere too ("Kyiv", not "Analysts")
    return re.search(rf"(?<![.!?\n\"“]\s)(?<=[\w,;:]\s){re.escape(word)}\b", seen_in) is not None


def names(toks: list[Token]) -> dict[int, list[str]]:
    """Name spans by index: their words, last word (the head: "Trump" of "Donald Trump") last."""
    spans: dict[int, list[str]] = {}
    for t in toks:
        if t.name is not None:
            spans.setdefault(t.name, []).append(_name_key(t.text))
    return spans


def same_name(a: str, b: str) -> bool:
    """Two name words are one name: equal, or one the other's inflection ("Russia"/"Russian",
    "Ukraine"/"Ukrainian"): a shared prefix at most one letter shorter than the shorter word."""
    if a == b:
        return True
    shared = len(_common_prefix(a, b))
    return shared >= 4 and shared >= min(len(a), len(b)) - 1


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _name_keys(text: str) -> set[str]:
    """Every token of the text as a name key (lower-case, no dots or possessive): what a name is looked up in."""
    return {_name_key(w) for w in CLAIM_TOKEN_RE.findall(text)}


def _name_key(word: str) -> str:
    return strip_possessive(word).rstrip(".").lower().replace(".", "")


def name_problem(claim: list[Token], source: list[Token], sentence: str, context: str, passage: str) -> str:
    """A name of the claim that the quote never mentions, unless it stands for a pronoun of the quote ("He
    also said" → "Trump also said": a pronoun of the quote is gone from the claim) or the claim keeps every name
    of the quote: then it may come from the sentences around it or the title. A name swapped for another one
    nearby, with the quote's pronouns left as they were ("Trump said his…" → "Biden said his…"), is not a
    pronoun resolved."""
    quoted, anywhere = _name_keys(sentence), _name_keys(passage + " " + sentence + " " + context)
    claim_words = [w for words in names(claim).values() for w in words]
    keeps_names = all(any(same_name(w, c) for c in claim_words) for words in names(source).values() for w in words)
    near = quoted | _name_keys(context) if keeps_names or _resolves_a_pronoun(claim, source) else quoted
    for words in names(claim).values():
        head, rest = words[-1], words[:-1]
        if not any(same_name(head, w) for w in near):
            return f"names {head.title()!s}, which the source does not mention"
        for word in rest:
            if not any(same_name(word, w) for w in anywhere):
                return f"names {word.title()}, which the source does not mention"
    return ""


def _resolves_a_pronoun(claim: list[Token], source: list[Token]) -> bool:
    """The claim has fewer of some pronoun than the quote: one was written out as a name."""
    def pronouns(toks: list[Token]) -> Counter:
        return Counter(t.lower for t in toks if t.lower in PERSONAL_PRONOUNS)

    return bool(pronouns(source) - pronouns(claim))


# ---- polarity ------------------------------------------------------------------------------------


def negated(toks: list[Token]) -> list[tuple[str, set[str]]]:
    """Each negation's first content word (what it negates) and the first two, for a looser match."""
    out = []
    for i, t in enumerate(toks):
        against = t.lower == "against" and i + 1 < len(toks) and toks[i + 1].lower.endswith("ing")
        if t.lower not in NEGATIONS and not against:  # "warned against escalating" = "warned not to escalate"
            continue
        if t.text in ("No", "no") and i + 1 < len(toks) and toks[i + 1].text[:1].isdigit():
            continue  # "No. 7" is a number, not a negation
        following = [u.stem for u in toks[i + 1:i + 6] if u.stem[:1].isalnum() and u.lower not in FUNCTION_WORDS
                     and u.lower not in NEGATIONS and u.lower not in _SKIP_AFTER_NEGATION][:2]
        if following:
            out.append((following[0], set(following)))
    return out


def polarity_problem(claim: list[Token], source: list[Token]) -> str:
    """A negation added to, or taken from, what the source says."""
    claim_neg, source_neg = negated(claim), negated(source)
    claim_stems, source_stems = {t.stem for t in claim}, {t.stem for t in source}
    source_window = set().union(*(w for _, w in source_neg)) if source_neg else set()
    claim_window = set().union(*(w for _, w in claim_neg)) if claim_neg else set()
    for word, _ in claim_neg:
        if word in source_stems and word not in source_window:
            return f"negates '{word}', which the source asserts"
    for word, _ in source_neg:
        if word in claim_stems and word not in claim_window:
            return f"asserts '{word}', which the source negates"
    if len(claim_neg) > len(source_neg):
        return "has a negation the source does not have"
    return ""


# ---- roles ---------------------------------------------------------------------------------------


def roles(toks: list[Token]) -> dict[str, tuple[set[str], set[str]]]:
    """Each content word's actors (the name right before it) and objects (the name right after it)."""
    heads = {k: v[-1] for k, v in names(toks).items()}
    out: dict[str, tuple[set[str], set[str]]] = {}
    for i, t in enumerate(toks):
        if t.name is not None or not t.stem[:1].isalpha() or t.lower in FUNCTION_WORDS or t.lower in NEGATIONS:
            continue
        before, passive = _name_before(toks, i)
        after = _name_after(toks, i)
        if passive and after is None:
            continue
        if passive:
            before, after = heads.get(after), heads.get(before)
        else:
            before, after = heads.get(before), heads.get(after)
        if before or after:
            actors, objects = out.setdefault(t.stem, (set(), set()))
            actors.update([before] if before else [])
            objects.update([after] if after else [])
    return out


def _name_before(toks: list[Token], i: int) -> tuple[int | None, bool]:
    """The name that acts on word `i` (only auxiliaries and adverbs between), and whether `i` is passive."""
    passive = False
    for j in range(i - 1, max(-1, i - 4), -1):
        if toks[j].name is not None:
            start = j
            while start > 0 and toks[start - 1].name == toks[j].name:
                start -= 1
            if start > 0 and toks[start - 1].lower in _PREPOSITIONS:
                return None, False  # "the war in Ukraine while …": a preposition's object acts on nothing
            return toks[j].name, passive
        if toks[j].lower not in AUXILIARIES and not toks[j].lower.endswith("ly"):
            return None, False
        passive = passive or toks[j].lower in PASSIVE_AUXILIARIES
    return None, False


def _name_after(toks: list[Token], i: int) -> int | None:
    """The name word `i` acts on (only an article or a preposition between)."""
    for k in range(i + 1, min(len(toks), i + 3)):
        if toks[k].name is not None:
            return toks[k].name
        if toks[k].lower not in _PREPOSITIONS and toks[k].lower not in ("the", "a", "an"):
            return None
    return None


def role_problem(claim: list[Token], source: list[Token], whole: list[Token]) -> str:
    """A verb whose actor or object in the claim is a different name of the source sentence than its own."""
    source_roles, source_names = roles(source), [v[-1] for v in names(source).values()]
    claim_names = [v[-1] for v in names(whole).values()]
    # a run of capitalised words can hold two names ("the co-founder of Reddit Alexis Ohanian"): any of its words
    # may be the one the source has in that role
    runs = {words[-1]: words for words in names(claim).values()}
    for word, (actors, objects) in roles(claim).items():
        if word not in source_roles:
            continue
        for mine, theirs, role in ((actors, source_roles[word][0], "actor"), (objects, source_roles[word][1], "object")):
            for name in mine:
                if theirs and not any(same_name(w, n) for w in runs.get(name, [name]) for n in theirs) \
                        and any(same_name(name, n) for n in source_names) \
                        and any(same_name(n, c) for n in theirs for c in claim_names):  # both names in both
                    return (f"has {name.title()} as the {role} of '{word}', where the source has "
                            f"{sorted(theirs)[0].title()}")
    return ""


def passage_sentences(text: str) -> list[tuple[str, set[str]]]:
    """A passage's sentences with their term sets, as `judge` takes them."""
    return [(text[s:e].strip(), set(terms(text[s:e]))) for s, e in split_sentences(text)]
