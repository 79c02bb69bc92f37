"""The project's one text toolkit and vocabulary: sentence spans, stems, stopwords, content terms and their
weights; what a word, a citation marker, a clause, a pronoun and a date are (each defined once, named for what it
matches: where two rooms meant different things by "word", both are here under two names).

Used by the retriever's sentence scoring, the stub model, the citation checker, follow-up rewriting and the
briefings, so a fix lands in one place. (`rag.keyword.FtsStemmer` is deliberately separate: it asks SQLite for
FTS5's own stems so document-frequency look-ups match the FTS5 index exactly.)

**Sentences: a small rule set, not pysbd.** pysbd 0.3.4 (last released 2021) splits the hard cases right ("U.S.
Senate" / "the U.S. He", "Jan. 5", "J. R. R.", "a.m.") and can return character spans, but over the dev corpus
(609 articles, 6.3M characters) it took 94 s against 0.7 s here (15 µs against 0.11 µs a character): 18 ms for
one 256-token chunk, where the retriever scores the sentences of dozens of chunks per question in about 20 ms all
told, and a 609-article briefing would spend over a minute splitting. It also keeps a multi-sentence quotation
whole, which makes citation quotes long. The two agree on 54,419 boundaries; see docs/text.md for where they
differ (`benchmarks/sentences.py`).

The rules: a sentence ends at `.`, `!` or `?` (with any closing quotes or brackets after it) followed by space
and a capital letter, a digit or an opening quote/bracket; a line break always ends one. A stop after an
abbreviation ("Nov.", "Dr.", "No."), an initial ("J.") or a dotted acronym ("U.S.", "a.m.") ends a sentence only
when the next word is one that starts sentences (a capitalised function word: "The", "He", "But"): "the U.S.
Senate" stays whole, "in the U.S. He said" splits. Titles ("Mr.", "Dr.") never end one.

**Stems:** PyStemmer's Porter (the Snowball C implementation), the stemmer FTS5's `porter` tokenizer follows.
**Stopwords:** one list, `STOPWORDS` = English function words (`FUNCTION_WORDS`) + words every news report uses
(`REPORTING_WORDS`: "said", "according", "report"). Keyword retrieval drops only `FUNCTION_WORDS`, as it did
before the merge (query_parse.STOP), so its rankings keep the words it was tuned with; dev-set figures before and
after are in docs/benchmarks.md.
"""

from __future__ import annotations

import html
import math
import re
from datetime import date
from collections import Counter
from collections.abc import Iterable

import Stemmer

FUNCTION_WORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
off on once only or other our ours ourselves out over own same she should so some such than that the their theirs
them themselves then there these they this those through to too under until up very was we were what when where
which while who whom whose why will with would yes you your yours yourself yourselves what's who's
""".split())
REPORTING_WORDS = frozenset("""
said says say according told tell news article articles report reported reports reporting
""".split())
STOPWORDS = FUNCTION_WORDS | REPORTING_WORDS
CALENDAR_WORDS = frozenset("""
monday tuesday wednesday thursday friday saturday sunday january february march april may june july august september
october november december
""".split())  # capitalised, yet not names

# ---- what a word is: one pattern per meaning -----------------------------------------------------

WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")  # a word with its apostrophes and hyphens: content terms
PLAIN_WORD_RE = re.compile(r"\w+")  # a run of word characters: "word for word" comparisons (prompt leaks, quotes)
NAME_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’]s)?")  # a word that may be a name, possessive kept
LETTERS_RE = re.compile(r"[A-Za-z]+")  # a run of ASCII letters: question words, calendar words
QUERY_WORD_RE = re.compile(r"[\w][\w'’.-]*")  # a free-text search word (Unicode), as FTS5 queries quote it
# The citation check's tokens: words (with inner apostrophes, dots, hyphens: "U.S."), numbers ("1,200.5") and the
# punctuation that stops a run of names
CLAIM_TOKEN_RE = re.compile(r"[A-Za-z][A-Za-z'’.-]*[A-Za-z]|[A-Za-z]|\d[\d,.]*\d|\d|[,;:()\"“”]")

# ---- citation markers: "[1]", "[1, 2]", "[1; 3]" ------------------------------------------------
MARKER_RE = re.compile(r"\s?\[(\d+(?:\s*[,;]\s*\d+)*)\]")  # one marker (and the space before it); group 1: numbers
MARKER_RUN_RE = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")  # markers one after another: "[1] [2][3]"

# ---- pronouns and auxiliaries ---------------------------------------------------------------------
PERSONAL_PRONOUNS = frozenset("he she they him her his their them".split())  # what a name written out replaces
# the words a question part uses to refer back to the subject of the part before it ("…, and has she …")
REFERRING_PRONOUNS = PERSONAL_PRONOUNS | {"hers", "its"}
PASSIVE_AUXILIARIES = frozenset("was were been is are be being got get gets".split())  # "was warned by"
# what may stand between an actor and its verb ("Trump has reportedly warned …")
AUXILIARIES = PASSIVE_AUXILIARIES | frozenset("has have had having will would could can may might must should "
                                              "shall did does do also then later reportedly allegedly not".split())
# the verbs that open a yes/no question ("Does …", "Was …"); a tuple, in the order the question splitter tries them
QUESTION_AUXILIARIES = ("is", "was", "are", "were", "do", "does", "did", "has", "have", "had", "can", "could",
                        "will", "would", "should", "shall", "may", "might", "must")

_POSSESSIVE = re.compile(r"['’]s$")
_STEMMER = Stemmer.Stemmer("porter")

# ---- sentences ----------------------------------------------------------------------------------

_CLOSERS = "\"”’')]"
_CANDIDATE = re.compile(r"[.!?]+[\"”’')\]]*(?=\s+[\"“‘'(\[]?[A-Z0-9$£€])")  # a stop, then space and a capital
_NEXT_WORD = re.compile(r"\s+[\"“‘'(\[]?([A-Za-z]+|[0-9])")
_SPACE = re.compile(r"\s*")
_ACRONYM = re.compile(r"(?:[A-Za-z]\.)+[A-Za-z]")  # U.S, a.m, e.g (the last dot is the stop)
TITLES = frozenset("mr mrs ms mx dr prof gen sen rep gov lt col capt sgt rev hon messrs mme mlle".split())
ABBREVIATIONS = frozenset("""
jan feb mar apr jun jul aug sep sept oct nov dec tue tues thu thur thurs fri
st ave blvd rd mt ft jr sr inc corp co ltd plc bros dept approx vs
""".split())
NUMBER_ABBREVIATIONS = frozenset("no nos vol fig ch pp art sec".split())  # abbreviations only before a number


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) in `text`, so quotes can be cut verbatim; abbreviation-safe (see above)."""
    spans = []
    for block in re.finditer(r"[^\n]+", text):
        line, start = block.group(), 0
        for match in _CANDIDATE.finditer(line):
            if _ends_sentence(line, match):
                spans.append((block.start() + start, block.start() + match.end()))
                start = _SPACE.match(line, match.end()).end()
        spans.append((block.start() + start, block.end()))
    return [(s, e) for s, e in spans if text[s:e].strip()]


def _ends_sentence(line: str, stop: re.Match) -> bool:
    """Whether this stop ends a sentence: always after a plain word, after an abbreviation only before a starter."""
    if stop.group().rstrip(_CLOSERS) != ".":
        return True  # "!", "?" and "..." are not abbreviation dots
    before = line[max(0, stop.start() - 40):stop.start()].split()
    word = before[-1].lstrip("\"“‘'([").rstrip(_CLOSERS) if before else ""
    bare = word.lower()
    following = _NEXT_WORD.match(line, stop.end())
    nxt = following.group(1) if following else ""
    if bare in TITLES or (bare in NUMBER_ABBREVIATIONS and nxt.isdigit()):
        return False
    if not (bare in ABBREVIATIONS or (len(word) == 1 and word.isalpha()) or _ACRONYM.fullmatch(word)):
        return True
    return nxt[:1].isupper() and nxt.lower() in FUNCTION_WORDS


def sentences(text: str) -> list[str]:
    """The sentences of `text`, stripped."""
    return [text[s:e].strip() for s, e in split_sentences(text)]


# ---- words --------------------------------------------------------------------------------------


def stem(word: str) -> str:
    """The Porter stem of a lower-case word (warned/warning → warn, drones → drone)."""
    return _STEMMER.stemWord(word)


def stem_words(words: list[str]) -> list[str]:
    """`stem` of each word, in one call."""
    return _STEMMER.stemWords(words)


# The words a question uses to point at an article rather than at what it says: "does the TechCrunch article
# suggest …", "the report published on …", "the portrayal of …". The offline answerer drops them from a question's
# parts (stems, as `terms` gives them). They are not stopwords: in a claim ("she claimed", "he described") the
# citation check must still see them.
FRAMING_WORDS = frozenset(stem_words("""
claim claims claimed suggest suggests suggested describe describes described mention mentions mentioned mentioning
discuss discusses discussed discussing indicate indicates indicated indicating portray portrays portrayed portrayal
publish published piece pieces coverage story stories outlet outlets source sources
""".split()))


def strip_possessive(word: str) -> str:
    """"Baldur's" / "Baldur’s" → "Baldur": the word a possessive is made from."""
    return _POSSESSIVE.sub("", word)


def terms(text: str) -> list[str]:
    """Content terms: lower-cased, stemmed, stopwords dropped."""
    words = []
    for raw in WORD_RE.findall(text):
        word = strip_possessive(raw.lower().replace("’", "'"))
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        words.append(word)
    return stem_words(words)


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


def lower_words(text: str) -> list[str]:
    """The text's plain words, lower-cased: what "word for word" compares (punctuation, spacing and case ignored)."""
    return PLAIN_WORD_RE.findall(text.lower())


# ---- clauses ------------------------------------------------------------------------------------

# A claim's clauses start at ";", a dash, or a comma before a conjunction ("…, and the two agreed …").
CLAIM_CLAUSE_RE = re.compile(r"\s*;\s*|\s+[—–]\s+|,\s+(?=(?:and|but|while|whereas|although|though|as|after|"
                             r"before|with|which|who|when|where|yet|so)\b)")
# A question part's clauses (looser: the offline answerer matches each on its own): a comma (with the conjunction
# or relative pronoun after it), or "and"/"while"/"but" before a verb ("…, runs promotions, and is expected …").
PART_CLAUSE_RE = re.compile(r",\s*(?:and\s+|while\s+|but\s+|which\s+|who\s+)?|\s+(?:and|while|but)\s+"
                            r"(?=(?:is|was|are|were|has|had|have|also|does|did)\b)", re.IGNORECASE)


def split_clauses(text: str) -> list[tuple[str, str]]:
    """A claim's clauses, each with the separator before it (`"".join` gives the claim back): split at `;`, a
    dash, and a comma before a conjunction ("…, and the two agreed …")."""
    parts: list[tuple[str, str]] = []
    cursor, separator = 0, ""
    for match in CLAIM_CLAUSE_RE.finditer(text):
        parts.append((separator, text[cursor:match.start()]))
        cursor, separator = match.end(), match.group()
    parts.append((separator, text[cursor:]))
    merged: list[tuple[str, str]] = []
    for sep, clause in parts:
        if merged and not terms(clause):  # nothing to check on its own: it stays with the clause before
            merged[-1] = (merged[-1][0], merged[-1][1] + sep + clause)
        else:
            merged.append((sep, clause))
    return merged


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """'1 story', '2 stories', '1 article', '3 articles'."""
    if count == 1:
        return f"{count} {noun}"
    if plural_form is None:
        plural_form = noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
    return f"{count} {plural_form}"


# ---- HTML -------------------------------------------------------------------------------------------------------

# Elements whose content is code or markup, never the page's text: dropped with everything in them. lxml's
# `text_content()` keeps them (feedparser's sanitizer test feeds stored `<script>` bodies as titles and chunks).
# `embed` is left alone: it is a void element, and libxml2 nests the text that follows it inside it, so dropping
# it drops article text; `math` stays too, since MathML's text is the formula a reader sees.
CODE_ELEMENTS = ("script", "style", "noscript", "template", "iframe", "object", "svg")
_BLOCK = re.compile(r"</?(p|div|br|li|h[1-6]|blockquote|tr|section|article|pre)\b[^>]*>", re.I)
# The fallback when lxml cannot parse a fragment: the same elements, comments, then any tag.
_CODE_RE = re.compile(r"<(%s)\b.*?(?:</\1\s*>|$)|<!--.*?(?:-->|$)|<[^>]+>" % "|".join(CODE_ELEMENTS), re.I | re.S)


def drop_code(tree):
    """The lxml tree without `CODE_ELEMENTS`, comments and processing instructions (the text after them stays)."""
    from lxml import etree

    etree.strip_elements(tree, *CODE_ELEMENTS, etree.Comment, etree.ProcessingInstruction, with_tail=False)
    return tree


def html_text(value: str) -> str:
    """Plain text of an HTML fragment without code: block elements become line breaks, entities decoded, blanks
    tidied. The one HTML-to-text conversion: feed titles and entries, and page metadata, go through it."""
    if "<" not in value and "&" not in value:
        return value.strip()
    import lxml.html

    value = _BLOCK.sub(lambda m: "\n" + m.group(0), value)
    try:
        text = drop_code(lxml.html.fragment_fromstring(value, create_parent="div")).text_content()
    except Exception:  # lxml raises several types for junk; keep the text rather than nothing
        text = html.unescape(_CODE_RE.sub(" ", value))
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line).strip()


# ---- dates as YYYYMMDD integers: the store's date format (Chroma's $gte/$lte filters need numbers) ----
def date_to_int(day: date | None) -> int:
    """A date as YYYYMMDD; 0 = undated."""
    return day.year * 10000 + day.month * 100 + day.day if day else 0


def int_to_date(value: int | None) -> date | None:
    """The inverse of `date_to_int`."""
    if not value:
        return None
    return date(value // 10000, value // 100 % 100, value % 100)


def iso_to_int(value: str | None) -> int | None:
    """An ISO date (YYYY-MM-DD) as YYYYMMDD; None when missing or not ISO (a prompt's `date='unknown'`)."""
    try:
        return date_to_int(date.fromisoformat(value or ""))
    except ValueError:
        return None


def iso_to_date(value: str | None) -> date | None:
    """A stored ISO date as a `date`; None when missing (ValueError when not ISO: stored dates always are)."""
    return date.fromisoformat(value) if value else None


def int_to_iso(value: int | None) -> str | None:
    """YYYY-MM-DD, or None for undated."""
    day = int_to_date(value)
    return day.isoformat() if day else None


# ---- search tokens: runs of ASCII letters and digits, as SQLite FTS5's unicode61 tokenizer splits them ----
TOKEN_RE = re.compile(r"[A-Za-z0-9]+")

def lower_vocabulary(texts) -> set[str]:
    """Words seen lower-case in the indexed text: an outlet alias made only of these is an 'ordinary' name."""
    vocab: set[str] = set()
    for text in texts:
        vocab.update(w for w in TOKEN_RE.findall(text) if w.islower())
    return vocab
