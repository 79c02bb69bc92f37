"""What an article is (`Article`, `LoadFailure`) and how one record's fields become one: validated, cleaned, capped."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from rag.articles.headlines import is_byline, lede_headline
from rag.errors import IngestError
from rag.text import split_sentences

# Metadata is copied into every chunk's metadata and keyword row: an unbounded title would be copied N times.
TITLE_CHARS = 300
SOURCE_CHARS = 100
URL_CHARS = 2048
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# A day of slack for time zones: anything later than that is a typo or a bad feed.
FUTURE_SLACK = timedelta(days=1)
# Settings.max_article_chars's default, for callers without Settings. The longest article of
# the multihop-rag corpus is 71k characters: the cap only meets text no reader would call one article.
MAX_ARTICLE_CHARS = 200_000
CUT_WINDOW = 2000  # characters before the cap searched for a sentence end (else a space) to cut at


@dataclass(frozen=True)
class Article:
    """One news article, as newsbot stores it."""

    title: str
    body: str
    source: str | None = None
    published: date | None = None
    url: str | None = None
    origin: str = ""  # the file (and line or record) it came from, for messages only
    original_title: str | None = None  # the title as given, when it was a byline replaced by a lede headline
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def article_id(self) -> str:
        """Stable across edits of the body: the url if known, else outlet, title and date."""
        title = self.original_title or self.title  # the id an earlier ingest gave it, before any headline fix
        key = self.url or f"{self.source or ''}|{title.strip().lower()}|{self.published or ''}"
        return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that is stored or shown changes."""
        parts = [self.title, self.body, self.source or "", str(self.published or ""), self.url or ""]
        return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LoadFailure:
    """An input that was skipped, with the one-line reason shown to the user."""

    origin: str
    reason: str


def parse_date(value: object) -> date:
    """Parse an ISO-like date or datetime; raise ValueError with a readable reason."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value)).date()
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"unreadable date {value!r}")
    text = value.strip().replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        pass
    for fmt in ("%Y/%m/%d", "%d %B %Y", "%B %d, %Y", "%b %d, %Y", "%d %b %Y", "%Y%m%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"unreadable date {value!r}")


def _checked_date(value: object, today: date) -> tuple[date | None, str | None]:
    """A date, or None plus a warning: undated articles are kept but never match a date filter."""
    if value in (None, ""):
        return None, "no date: stored as undated"
    try:
        parsed = parse_date(value)
    except (ValueError, OverflowError, OSError) as exc:
        return None, f"{exc}: stored as undated"
    if parsed > today + FUTURE_SLACK:
        return None, f"date {parsed} is in the future: stored as undated"
    return parsed, None


def make_article(
    *, title: str | None, body: str | None, origin: str, source: str | None = None,
    published: object = None, url: str | None = None, today: date | None = None,
) -> Article:
    """Validate one record's fields into an Article; raise IngestError if it has no body."""
    body = strip_controls(body or "").strip()
    if not body:
        raise IngestError("article has no body")
    warnings: list[str] = []
    title, source, url = (strip_controls(v or "").strip() for v in (title, source, url))
    if len(title) > TITLE_CHARS:
        title = title[:TITLE_CHARS - 1].rsplit(" ", 1)[0].rstrip() + "…"
        warnings.append(f"the title is over {TITLE_CHARS} characters: cut")
    if len(source) > SOURCE_CHARS:
        source = source[:SOURCE_CHARS].rstrip()
        warnings.append(f"the source is over {SOURCE_CHARS} characters: cut")
    if len(url) > URL_CHARS:
        url = ""
        warnings.append(f"the URL is over {URL_CHARS} characters: left out")
    if not title:
        title = body.splitlines()[0].strip()[:120]
        warnings.append("no title: used the first line of the body")
    original = None
    if is_byline(title):
        original, title = title, lede_headline(body)
        warnings.append("the title is a byline or date line: used a headline from the first sentence")
    day, warning = _checked_date(published, today or date.today())
    if warning:
        warnings.append(warning)
    return Article(
        title=title, body=body, source=source or None, published=day,
        url=url or None, origin=origin, warnings=tuple(warnings), original_title=original,
    )


def strip_controls(text: str) -> str:
    """`text` without terminal escape sequences and control characters (tabs and line breaks stay)."""
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text))



def cap_article(article: Article, max_chars: int) -> Article:
    """The article with its body cut near `max_chars` (at a sentence end, else a space) and a warning that names
    the setting; unchanged when it fits."""
    if len(article.body) <= max_chars:
        return article
    start = max(0, max_chars - CUT_WINDOW)
    window = article.body[start:max_chars]
    ends = [end for _, end in split_sentences(window)[:-1]]  # the last span may be a sentence cut short
    cut = start + ends[-1] if ends else (start + window.rindex(" ") if " " in window else max_chars)
    body = article.body[:cut].rstrip()
    return replace(article, body=body, warnings=(*article.warnings, (
        f"the text is over the {max_chars:,}-character limit (NEWSBOT_MAX_ARTICLE_CHARS): kept the first "
        f"{len(body):,}")))
