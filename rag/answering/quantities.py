"""Numbers, amounts, percentages and dates in a sentence, in one comparable form each.

"145", "one hundred forty-five" and "145.0" are all `("n", 145.0)`; "3.5 million" and "3,500,000" are
`("n", 3500000.0)`, and so are chat's "3.5m" and "3500k"; "12%" and "twelve per cent" are `("%", 12.0)`;
"Nov. 10", "November 10th" and "10 November" are `("date", 11, 10)`; a bare month is `("month", 11)` and a weekday
`("day", "sunday")`. The citation checker (`rag.answering.claims`) asks that every quantity of a claim be one of its
cited sentence's.

Number words are read by number-parser (`parse_number`, scrapinghub's parser for "one hundred and forty five")
on runs of cardinal words found here; ordinals ("first", "second") are left alone, since "a second" is as often a
time as a rank. "one" and "a" on their own are not counted: "one of the leaders" claims no quantity.
"""

from __future__ import annotations

import re
from functools import lru_cache

from number_parser import parse_number

Quantity = tuple

MONTHS = {name: i for i, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
    ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
    ("december", "dec")), start=1) for name in names}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SCALES = {"thousand": 1e3, "k": 1e3, "million": 1e6, "mil": 1e6, "mill": 1e6, "m": 1e6, "mn": 1e6,
          "billion": 1e9, "bn": 1e9, "b": 1e9,
          "trillion": 1e12, "tn": 1e12}
_CARDINALS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
              "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
              "thousand million billion trillion").split()

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_DATE = re.compile(rf"\b(?:{_MONTH}\s+{_DAY}\b|{_DAY.replace('day>', 'day2>')}\s+(?:of\s+)?"
                   rf"{_MONTH.replace('month>', 'month2>')}\b)", re.IGNORECASE)
_BARE_MONTH = re.compile(r"\b(" + "|".join(n for n in MONTHS if len(n) > 3 or n == "may") + r")\b", re.IGNORECASE)
_WEEKDAY = re.compile(r"\b(" + "|".join(WEEKDAYS) + r")\b", re.IGNORECASE)
_WORD_RUN = re.compile(r"\b(?:" + "|".join(_CARDINALS) + r")(?:(?:\s+|-|\s+and\s+)(?:" + "|".join(_CARDINALS)
                       + r"))*\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])(?P<num>\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?|\.\d+)(?![\w,]*\d)"
                     r"(?:\s*(?P<pct>%|per\s?cent\b|percent\b))?"
                     r"(?:\s*-?\s*(?P<scale>thousand|million|billion|trillion|mill|mil|mn|bn|tn|k|m|b)\b)?",
                     re.IGNORECASE)


@lru_cache(maxsize=65536)
def quantities(text: str) -> frozenset[Quantity]:
    """Every quantity in `text`, normalised (see the module docstring)."""
    found: set[Quantity] = set()
    for match in _DATE.finditer(text):
        month = MONTHS[(match.group("month") or match.group("month2")).lower()]
        day = int(match.group("day") or match.group("day2"))
        if 1 <= day <= 31:
            found.add(("date", month, day))
            found.add(("month", month))
    text = _DATE.sub(" ", text)
    found |= {("month", MONTHS[m.group(1).lower()]) for m in _BARE_MONTH.finditer(text)
              if not (m.group(1) == "may" or (m.group(1) == "May" and m.start() == 0))}  # "may" the verb
    found |= {("day", m.group(1).lower()) for m in _WEEKDAY.finditer(text)}
    text = _WORD_RUN.sub(_digits, text)
    for match in _NUMBER.finditer(text):
        value = float(match.group("num").replace(",", ""))
        scale = (match.group("scale") or "").lower()
        if scale in ("m", "b") and match.group("scale") != scale:
            scale = ""  # "5 M" is not a million
        value *= SCALES.get(scale, 1.0)
        found.add(("%" if match.group("pct") else "n", value))
    return frozenset(found)


def _digits(match: re.Match) -> str:
    words = match.group()
    if words.lower() in ("one", "zero"):
        return words  # "one of them" claims no quantity
    if words.split()[0].lower() in SCALES and match.string[:match.start()].rstrip()[-1:].isdigit():
        return words  # "3.5 million": the number pattern reads the scale
    value = parse_number(words.lower().replace("-", " "))
    return f" {value} " if value is not None else words


def unsupported(claim: str, source: str) -> list[Quantity]:
    """The claim's quantities its source does not state (a bare month is stated by any date in that month)."""
    have = quantities(source)
    return sorted((q for q in quantities(claim) if q not in have), key=str)


def describe(q: Quantity) -> str:
    """A quantity as a log line shows it."""
    if q[0] == "date":
        return f"{list(MONTHS)[[*MONTHS.values()].index(q[1])].title()} {q[2]}"
    if q[0] == "n":
        return f"{q[1]:g}"
    if q[0] == "%":
        return f"{q[1]:g}%"
    return str(q[1])
