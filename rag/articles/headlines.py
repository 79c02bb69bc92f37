"""Titles that are not headlines: a byline ("Published by … Verified by …") or a date line ("10 de noviembre,
2024") is what some pages put where the headline goes. Ingest replaces such a title with one taken from the
lede, so briefings and citations show a headline; the original is kept in the chunks' metadata."""

from __future__ import annotations

import re

from rag.text import CALENDAR_WORDS, split_sentences

HEADLINE_CHARS = 110  # a derived headline is cut at a word boundary to about this length
_BYLINE = re.compile(
    r"^\s*(?i:(?:published|posted|written|updated|reviewed|verified|reported|edited|photos?)\s+(?:by|on|at)\b"
    r"|(?:last\s+)?updated\s*[:\d])"
    r"|^\s*(?i:by)\s+[A-Z][\w.’'-]+(?:\s+[A-Z][\w.’'-]+){0,3}\s*(?:$|[,|•·–—-])")  # names are capitalised
# Month names and date words in a few languages, to spot a title that is only a date line.
_DATE_WORDS = CALENDAR_WORDS | frozenset("""
jan feb mar apr jun jul aug sep sept oct nov dec de del of the on at am pm a.m p.m gmt utc et bst est edt pst
enero febrero marzo abril mayo junio julio agosto septiembre setiembre octubre noviembre diciembre
janvier février mars avril mai juin juillet août septembre octobre novembre décembre le
lunes martes miércoles jueves viernes sábado domingo updated published
""".split())
_DATELINE = re.compile(r"^[A-Z][A-Z .,'’-]{2,40}(?:\([^)]{1,30}\))?\s*[—–-]\s+")  # "WASHINGTON (AP) — "


def is_byline(title: str) -> bool:
    """A title that names who wrote or checked the piece, or that is only a date: not a headline."""
    if _BYLINE.match(title):
        return True
    words = re.findall(r"[^\W\d_]+(?:\.[^\W\d_]+)*", title.lower())
    return bool(re.search(r"\d", title)) and sum(w not in _DATE_WORDS for w in words) == 0


def lede_headline(body: str, limit: int = HEADLINE_CHARS) -> str:
    """A headline from the lede: its first sentence without a dateline, cut at a word boundary if long."""
    paragraph = next((p.strip() for p in body.splitlines() if len(p.strip()) >= 20), body.strip())
    spans = split_sentences(paragraph)
    sentence = paragraph[spans[0][0]:spans[0][1]] if spans else paragraph
    sentence = _DATELINE.sub("", sentence).strip()
    if len(sentence) <= limit:
        return sentence.rstrip(".")
    cut = sentence[:limit].rsplit(" ", 1)[0].rstrip(",;:–—- ")
    return cut + "…"
