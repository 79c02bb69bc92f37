"""Question parsing for retrieval: the outlets a question names (matched against the store's own sources at run
time, tolerant of case and small misspellings, strict for outlets made of ordinary words) and its dates/windows.

Ported from the retrieval research prototype (docs/benchmarks.md, "Retrieval quality"). Nothing here is a hard
filter: the retriever uses what it finds to route and boost, and falls back to plain hybrid search.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from rapidfuzz.distance import Levenshtein

from rag.text import FUNCTION_WORDS, TOKEN_RE, date_to_int


MONTHS = {m: i + 1 for i, m in enumerate(
    "january february march april may june july august september october november december".split())}
MONTHS.update({m[:3]: i for m, i in list(MONTHS.items())})
MONTHS["sept"] = 9



def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


# question parser: outlets + dates


class OutletMatcher:
    """Finds mentions of known outlets (the corpus' `source` values) in free text.

    Aliases per source: the full name, the part before a ' - ', ' | ' or ':' separator (so
    'The Independent' -> all 'The Independent - ...' sections), each with and without a leading
    'The', '.com' and trailing years removed, plus an all-caps leading acronym ('BBC', 'FOX').
    An alias made only of ordinary words (each word seen lower-cased in the indexed text, e.g.
    'Fortune', 'The Verge', 'The Age', 'Business Line') must appear capitalised as written or inside
    quotes; other aliases match case-insensitively and also with small misspellings.
    """

    def __init__(self, sources, lower_vocab: set[str]):
        self._lower_vocab_ref = lower_vocab
        self.alias: dict[str, set[str]] = defaultdict(set)   # alias (display form) -> sources
        for s in sorted(set(sources)):
            forms = {s}
            for sep in (" - ", " | ", ": ", " – "):
                if sep in s:
                    forms.add(s.split(sep)[0])
            more = set()
            for f in forms:
                g = re.sub(r"\s+\d{4}$", "", f.strip())
                g = re.sub(r"\.com$", "", g, flags=re.I)
                more.add(g)
                if g.lower().startswith("the "):
                    more.add(g[4:])
                first = g.split()[0] if g.split() else ""
                if len(first) >= 3 and first.isupper():
                    more.add(first)
            forms |= more
            for f in forms:
                f = f.strip()
                if len(_norm(f)) >= 3:
                    self.alias[f].add(s)
        self.entries = []  # (alias, sources, ordinary)
        for a, ss in self.alias.items():
            words = [w.lower() for w in TOKEN_RE.findall(a) if w.lower() != "the"]
            bare = [w for w in words]
            ordinary = all(w in lower_vocab or w in FUNCTION_WORDS for w in bare)
            # a bare alias of one short ordinary word is too risky without its 'The'
            if ordinary and len(bare) == 1 and len(bare[0]) <= 3 and not a.lower().startswith("the "):
                continue
            self.entries.append((a, frozenset(ss), ordinary))
        self.entries.sort(key=lambda e: -len(e[0]))
        self._fuzzy: dict[int, list] = defaultdict(list)  # normalised length -> [(rank, entry, normalised alias)]
        for n, e in enumerate(self.entries):
            if not e[2] and len(_norm(e[0])) >= 6:
                self._fuzzy[len(_norm(e[0]))].append((n, e, _norm(e[0])))
        # An ASCII alias can only match an ASCII question where the question holds its first word as a whole
        # word. Other aliases are always tried, and a question with non-ASCII letters tries every alias: re.I
        # folds some of them to ASCII ("İ", "ſ", the Kelvin sign), which lower() and TOKEN_RE do not.
        self._by_first: dict[str, list[int]] = defaultdict(list)
        self._always: list[int] = []
        for n, (a, _, _) in enumerate(self.entries):
            if a.isascii():
                self._by_first[TOKEN_RE.findall(a.lower())[0]].append(n)
            else:
                self._always.append(n)
        self._patterns = [  # compiled once: there are more aliases than the re module's cache holds
            re.compile(r"(?<![A-Za-z0-9])" + r"\s+".join(re.escape(w) for w in a.split()) + r"(?![A-Za-z0-9])", re.I)
            for a, _, _ in self.entries]

    def find(self, q: str):
        """Return list of (start, end, frozenset(sources), surface) — longest, non-overlapping."""
        taken = np.zeros(len(q) + 1, bool)
        out = []
        quoted = [(m.start(), m.end()) for m in re.finditer(r"['\"‘“][^'\"’”]{2,80}['\"’”]", q)]

        def in_quotes(i, j):
            return any(a <= i and j <= b for a, b in quoted)

        def add(i, j, ss, surf):
            if taken[i:j].any():
                return
            taken[i:j] = True
            out.append((i, j, ss, surf))

        if any(c.isalpha() and not c.isascii() for c in q):
            tried: list[int] | range = range(len(self.entries))
        else:
            words = set(TOKEN_RE.findall(q.lower()))
            tried = sorted([*self._always, *(n for w in words for n in self._by_first.get(w, ()))])
        for n in tried:  # longest alias first, as before
            (a, ss, ordinary), pattern = self.entries[n], self._patterns[n]
            for m in pattern.finditer(q):
                i, j = m.span()
                if ordinary:
                    if m.group(0).split()[-1] != a.split()[-1] and not in_quotes(i, j):
                        continue  # ordinary words must keep their capitalisation
                    if a.lower().startswith("the ") is False and m.group(0)[0].islower() and not in_quotes(i, j):
                        continue
                add(i, j, ss, m.group(0))
        # misspellings: capitalised 1-4 word spans close (edit distance) to a distinctive alias

        toks = list(re.finditer(r"[A-Za-z0-9][A-Za-z0-9.&']*", q))
        for n in (1, 2, 3, 4):
            for t in range(len(toks) - n + 1):
                i, j = toks[t].start(), toks[t + n - 1].end()
                if taken[i:j].any() or not q[i].isupper():
                    continue
                span = _norm(q[i:j])
                if len(span) < 6 or (n == 1 and span in self._lower_vocab_ref):
                    continue
                best = None
                near = [x for size in range(len(span) - 2, len(span) + 3) for x in self._fuzzy.get(size, ())]
                for _, (a, ss, _), na in sorted(near):  # in entry order, as ties go to the first
                    lim = 1 if len(na) < 9 else 2
                    if abs(len(na) - len(span)) > lim:
                        continue
                    d = Levenshtein.distance(span, na, score_cutoff=lim)
                    if d <= lim and (best is None or d < best[0]):
                        best = (d, ss)
                if best:
                    add(i, j, best[1], q[i:j])
        out.sort()
        return out


DATE_PATTERNS = [
    # October 4, 2023 / Oct 4th 2023
    (re.compile(r"\b(?P<mon>[A-Za-z]{3,9})\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<year>\d{4})\b"), "day"),
    # 4 October 2023 / 4th of October, 2023
    (re.compile(r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>[A-Za-z]{3,9})\.?,?\s+(?P<year>\d{4})\b"), "day"),
    # 2023-10-04, 2023-10-04T21:11:57+00:00 (an ISO date and time: the day counts, the time is taken with it)
    (re.compile(r"\b(?P<year>\d{4})-(?P<mon>\d{2})-(?P<day>\d{2})"
                r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?(?![\w:+])"), "day"),
    # October 2023
    (re.compile(r"\b(?P<mon>[A-Za-z]{3,9})\.?,?\s+(?P<year>\d{4})\b"), "month"),
]
REL_RE = re.compile(r"(before|prior to|earlier than|until|after|since|later than|following|from|by|on|in)\s*(the\s+)?$", re.I)


def _shift(ymd: int, days: int) -> int:

    y, m, d = ymd // 10000, ymd // 100 % 100, ymd % 100
    while True:  # month windows end at day 31; clamp to a real date
        try:
            x = dt.date(y, m, d)
            break
        except ValueError:
            d -= 1
    return date_to_int(x + dt.timedelta(days=days))


@dataclass
class DateRef:
    lo: int            # inclusive YYYYMMDD
    hi: int            # inclusive
    kind: str          # "day" | "month" | "before" | "after"
    start: int
    end: int


def parse_dates(q: str):
    taken = np.zeros(len(q) + 1, bool)
    refs = []
    for pat, kind in DATE_PATTERNS:
        for m in pat.finditer(q):
            i, j = m.span()
            if taken[i:j].any():
                continue
            mon = m.group("mon")
            mon = int(mon) if mon.isdigit() else MONTHS.get(mon.lower())
            if not mon or not 1 <= mon <= 12:
                continue
            year = int(m.group("year"))
            if not 1990 <= year <= 2100:
                continue
            if kind == "day":
                day = int(m.group("day"))
                if not 1 <= day <= 31:
                    continue
                lo = hi = year * 10000 + mon * 100 + day
            else:
                lo, hi = year * 10000 + mon * 100 + 1, year * 10000 + mon * 100 + 31
            k = kind
            rel = REL_RE.search(q[max(0, i - 20):i])
            if rel:
                r = rel.group(1).lower()
                if r in ("before", "prior to", "earlier than", "until"):
                    lo, hi, k = 0, _shift(lo, -1), "before"
                elif r in ("after", "since", "later than", "following"):
                    lo, hi, k = _shift(hi, +1), 99999999, "after"
            taken[i:j] = True
            refs.append(DateRef(lo, hi, k, i, j))
    refs.sort(key=lambda r: r.start)
    return refs


@dataclass
class Parsed:
    outlets: list          # [(start, end, frozenset(sources), surface)]
    dates: list            # [DateRef]
    groups: list = field(default_factory=list)   # [(frozenset(sources), [DateRef...], segment_text)]
    spans: list = field(default_factory=list)    # per group, the [(start, end)] pieces of the question in its segment


def parse_question(q: str, matcher: OutletMatcher) -> Parsed:
    outs = matcher.find(q)
    dates = parse_dates(q)
    # one group per distinct outlet set, in order of first mention; dates attach to the closest
    # preceding outlet mention (temporal questions say "... by X ... published on <date>")
    groups: dict = {}
    order = []
    bounds = [o[0] for o in outs] + [len(q)]
    for n, (i, j, ss, surf) in enumerate(outs):
        if ss not in groups:
            groups[ss] = ([], [])
            order.append(ss)
        # segment: from the end of the previous mention to the start of the next one
        seg_lo = outs[n - 1][1] if n else 0
        seg_hi = bounds[n + 1]
        groups[ss][1].append((seg_lo, seg_hi))
    for d in dates:
        prev = [o for o in outs if o[0] < d.start]
        if prev:
            groups[prev[-1][2]][0].append(d)
    return Parsed(outs, dates, [(ss, groups[ss][0], " ".join(q[a:b] for a, b in groups[ss][1])) for ss in order],
                  [groups[ss][1] for ss in order])


def strip_meta(q: str, parsed: Parsed) -> str:
    """The question without its outlet names and dates (they only add noise to keyword search)."""
    return strip_meta_in(q, parsed, [(0, len(q))])


def strip_meta_in(q: str, parsed: Parsed, pieces: list[tuple[int, int]]) -> str:
    """The given (start, end) pieces of the question, joined, without the outlet names and dates inside them."""
    spans = sorted([(o[0], o[1]) for o in parsed.outlets] + [(d.start, d.end) for d in parsed.dates])
    out = []
    for lo, hi in pieces:
        last = lo
        for i, j in spans:
            if i >= last and j <= hi:
                out.append(q[last:i])
                last = j
        out.append(q[last:hi])
    return " ".join(out)


