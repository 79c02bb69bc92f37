"""Load article files and folders into `Article`s: the seed format, txt/md, html, json, jsonl and pdf."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from rag.errors import IngestError
from rag.articles.headlines import is_byline, lede_headline
from rag.text import drop_code, html_text, plural, split_sentences

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ""}
HTML_SUFFIXES = {".html", ".htm"}
JSON_SUFFIXES = {".json"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED = TEXT_SUFFIXES | HTML_SUFFIXES | JSON_SUFFIXES | JSONL_SUFFIXES | PDF_SUFFIXES
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
SEED_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s*(.*)$")
# Metadata is copied into every chunk's metadata and keyword row: an unbounded title would be copied N times.
TITLE_CHARS = 300
SOURCE_CHARS = 100
URL_CHARS = 2048
_ESCAPE_SEQUENCE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
DEEP_JSON = "JSON nested too deeply to read (an article record is a flat object)"
# A day of slack for time zones: anything later than that is a typo or a bad feed.
FUTURE_SLACK = timedelta(days=1)
# Settings.max_article_chars and pdf_max_pages's defaults, for callers without Settings. The longest article of
# the multihop-rag corpus is 71k characters: the cap only meets text no reader would call one article.
MAX_ARTICLE_CHARS = 200_000
PDF_MAX_PAGES = 200
# Seconds a PDF's text may take to read, in a child process killed when they pass (rag/articles/pdf_child.py). Normal PDFs
# take well under a second; a 4 KB PDF of 4 pages sharing one 1 MB content stream took 3.5 s before the caps.
PDF_DEADLINE_S = 20.0
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


def decode_bytes(data: bytes) -> str:
    """Decode text the way a person would expect: BOMs, UTF-8, UTF-16, then Windows-1252/Latin-1."""
    return decode_text(data)[0]


def decode_text(data: bytes) -> tuple[str, str | None]:
    """The decoded text plus a warning when bytes had to be replaced; raise IngestError for non-text."""
    if not data.strip():
        raise IngestError("file is empty")
    if data.startswith(b"\xef\xbb\xbf"):
        return _utf8(data[3:])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), None
    sample = data[:4096]
    if sample.count(b"\x00") > len(sample) // 4:
        # UTF-16 without a BOM has a zero in every other byte of ASCII text: odd bytes for LE, even for BE.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        for enc in ("utf-16-le", "utf-16-be") if odd >= even else ("utf-16-be", "utf-16-le"):
            try:
                text = data.decode(enc)
            except UnicodeDecodeError:
                continue
            if _looks_like_text(text):
                return text, None
        raise IngestError("binary file (not text)")
    if b"\x00" in sample:
        raise IngestError("binary file (not text)")
    text, note = _utf8(data)
    if not _looks_like_text(text):
        raise IngestError("binary file (not text): not UTF-8, UTF-16 or Latin-1")
    return text, note


def _utf8(data: bytes) -> tuple[str, str | None]:
    """UTF-8; else Windows-1252/Latin-1, unless the file is mostly UTF-8 with a few broken bytes."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    replaced = data.decode("utf-8", errors="replace")
    broken = replaced.count("\ufffd")
    if len(_UTF8_MULTIBYTE.findall(data)) >= broken:
        # Real UTF-8 (it has valid multi-byte characters) with a few damaged bytes: keep the good text.
        return replaced, f"invalid UTF-8: {broken} undecodable byte(s) replaced with \ufffd"
    for enc in ("cp1252", "latin-1"):  # cp1252 first: it is what "Latin-1" files from Windows really are
        try:
            return data.decode(enc), None
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes every byte")  # pragma: no cover


def _looks_like_text(text: str) -> bool:
    sample = text[:4096]
    bad = sum(1 for ch in sample if (ord(ch) < 32 and ch not in "\t\n\r\f") or 0x7F <= ord(ch) < 0xA0)
    return bad <= max(1, len(sample) // 100)


def parse_text(text: str, origin: str, source: str | None, today: date | None = None) -> Article:
    """The seed format (` date YYYY-MM-DD Title`, title, body) or plain txt/md (title on line 1)."""
    lines = text.strip("\ufeff").splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise IngestError("file is empty")
    header = SEED_HEADER.match(lines[0])
    published: str | None = None
    if header:
        published, title = header.group(1), header.group(2).strip()
        rest = lines[1:]
        while rest and not rest[0].strip():
            rest.pop(0)
        if rest and title and rest[0].strip() == title:
            rest = rest[1:]
    else:
        title, rest = lines[0].strip().lstrip("#").strip(), lines[1:]
    return make_article(
        title=title, body="\n".join(rest), origin=origin, source=source, published=published, today=today
    )


def extract_page(text: str, url: str | None = None):
    """trafilatura's main text and metadata (title, date, sitename, url) of an HTML page; IngestError if none."""
    import trafilatura  # imported here: it is heavy and only HTML needs it

    # trafilatura keeps a <template>'s text, and its metadata is raw strings (a <title> or og:title holding
    # "<script>…" comes back verbatim): the tree loses its code first, and the metadata goes through html_text.
    tree = trafilatura.load_html(text)
    doc = None if tree is None else trafilatura.bare_extraction(drop_code(tree), url=url, with_metadata=True,
                                                                include_comments=False)
    if doc is None or not (doc.text or "").strip():
        raise IngestError("no article text found in the HTML")
    doc.title, doc.sitename = (html_text(v) or None if isinstance(v, str) else None for v in (doc.title, doc.sitename))
    return doc


def parse_html(text: str, origin: str, source: str | None, today: date | None = None) -> Article:
    """Main text and metadata via trafilatura, which drops navigation and boilerplate."""
    doc = extract_page(text)
    return make_article(
        title=doc.title, body=doc.text, origin=origin, source=source or doc.sitename,
        published=doc.date, url=doc.url, today=today,
    )


def parse_pdf(data: bytes, origin: str, source: str | None, today: date | None = None,
              max_chars: int = MAX_ARTICLE_CHARS, max_pages: int = PDF_MAX_PAGES) -> Article:
    """A PDF's pages' text in page order (pypdf), up to `max_pages` pages and about `max_chars` characters (cut
    with a warning); its title from the document info, else the first line."""
    out = read_pdf(data, max_chars, max_pages)
    body = "\n\n".join(p for p in out["texts"] if p)
    if not body:
        raise IngestError("the PDF has no text (a scan needs OCR first)")
    article = make_article(title=out["title"], body=body, origin=origin, source=source, today=today)
    if out["pages"] > max_pages:
        article = replace(article, warnings=(*article.warnings, (
            f"the PDF has {out['pages']:,} pages, over the {max_pages:,}-page limit (NEWSBOT_PDF_MAX_PAGES): "
            f"read the first {max_pages:,}")))
    return cap_article(article, max_chars)


def read_pdf(data: bytes, max_chars: int, max_pages: int) -> dict:
    """rag/articles/pdf_child.py's answer ({"title", "pages", "texts"}), run in a child killed at `PDF_DEADLINE_S`."""
    child = Path(__file__).with_name("pdf_child.py")
    try:
        done = subprocess.run([sys.executable, "-I", str(child), str(max_pages), str(max_chars)], input=data,
                              capture_output=True, timeout=PDF_DEADLINE_S)
    except subprocess.TimeoutExpired:
        raise IngestError(f"reading the PDF took over {PDF_DEADLINE_S:g} s: refused (a PDF built to exhaust the "
                          "reader looks like this; convert it to text and ingest that)") from None
    try:
        out = json.loads(done.stdout)
    except ValueError:
        logger.warning("PDF reader exited %s: %s", done.returncode, done.stderr[-500:].decode(errors="replace"))
        raise IngestError(f"the PDF reader failed (exit status {done.returncode})") from None
    if "error" in out:
        raise IngestError(out["error"])
    return out


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


def record_to_article(
    record: object, origin: str, source: str | None, today: date | None = None
) -> Article:
    """One JSON record with title, body (or text), source, url and published_at."""
    if not isinstance(record, dict):
        raise IngestError(f"record is a {type(record).__name__}, not an object")
    body = record.get("body", record.get("text"))
    if body is not None and not isinstance(body, str):
        raise IngestError("'body' is not a string")
    published = record.get("published_at", record.get("published", record.get("date")))
    return make_article(
        title=_str_or_none(record.get("title")), body=body, origin=origin,
        source=source or _str_or_none(record.get("source")), published=published,
        url=_str_or_none(record.get("url")), today=today,
    )


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def parse_json(
    text: str, origin: str, source: str | None, today: date | None = None
) -> Iterator[Article | LoadFailure]:
    """A list of records, one record, or {"articles": [...]}; a bad record is skipped alone."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise IngestError(DEEP_JSON) from None
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    records = data if isinstance(data, list) else [data]
    if not records:
        raise IngestError("JSON holds no records")
    for i, record in enumerate(records):
        where = f"{origin} record {i}"
        try:
            yield record_to_article(record, where, source, today)
        except IngestError as exc:
            yield LoadFailure(where, str(exc))


def parse_jsonl(
    text: str, origin: str, source: str | None, today: date | None = None
) -> Iterator[Article | LoadFailure]:
    """One record per line; a malformed line is reported with its line number."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{origin} line {lineno}"
        try:
            yield record_to_article(json.loads(line), where, source, today)
        except json.JSONDecodeError as exc:
            yield LoadFailure(where, f"malformed JSON: {exc.msg}")
        except RecursionError:
            yield LoadFailure(where, DEEP_JSON)
        except IngestError as exc:
            yield LoadFailure(where, str(exc))


def load_file(
    path: Path, source: str | None = None, max_bytes: int = 10 * 1024 * 1024, today: date | None = None,
    max_chars: int = MAX_ARTICLE_CHARS, pdf_max_pages: int = PDF_MAX_PAGES,
) -> Iterator[Article | LoadFailure]:
    """Every article in one file, each cut to `max_chars`; failures are yielded, never raised."""
    origin = str(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise IngestError(f"file is {size:,} bytes, over the {max_bytes:,}-byte limit")
        if path.suffix.lower() in PDF_SUFFIXES:
            yield parse_pdf(path.read_bytes(), origin, source, today, max_chars, pdf_max_pages)
            return
        text, note = decode_text(path.read_bytes())
        yield from _finish(_parse(path, text, origin, source, today), note, max_chars)
    except IngestError as exc:
        yield LoadFailure(origin, str(exc))
    except OSError as exc:
        loop = exc.errno == errno.ELOOP
        yield LoadFailure(origin, "symlink loop: the link points back at itself" if loop
                          else f"cannot read: {exc.strerror}")
    except UnicodeError as exc:
        yield LoadFailure(origin, f"cannot read: {exc}")


def _parse(path: Path, text: str, origin: str, source: str | None,
           today: date | None) -> Iterator[Article | LoadFailure]:
    suffix = path.suffix.lower()
    if suffix in JSON_SUFFIXES:
        yield from parse_json(text, origin, source, today)
    elif suffix in JSONL_SUFFIXES:
        yield from parse_jsonl(text, origin, source, today)
    elif suffix in HTML_SUFFIXES:
        yield parse_html(text, origin, source, today)
    else:
        yield parse_text(text, origin, source, today)


def _finish(items: Iterable[Article | LoadFailure], note: str | None,
            max_chars: int) -> Iterator[Article | LoadFailure]:
    """Each article with the file's decoding note, and cut to `max_chars`."""
    for item in items:
        if isinstance(item, Article):
            item = cap_article(replace(item, warnings=(note, *item.warnings)) if note else item, max_chars)
        yield item


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path | LoadFailure]:
    """Expand files and folders (recursively, sorted, symlink loops cut) into files to load."""
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            yield LoadFailure(str(path), _missing_reason(path))
        elif path.is_dir():
            yield from _walk(path)
        else:
            yield path


def _missing_reason(path: Path) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop: the link points back at itself"
        if path.is_symlink():
            return "broken symlink: its target does not exist"
    return "no such file or folder"


def _walk(root: Path) -> Iterator[Path | LoadFailure]:
    seen: set[str] = set()
    ignored: Counter[str] = Counter()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            dirs[:] = []
            yield LoadFailure(folder, "symlink loop: folder already visited")
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            if name.startswith("."):
                continue
            if path.suffix.lower() not in SUPPORTED:
                ignored[path.suffix.lower() or "(no extension)"] += 1
                continue
            yield path
    if ignored:  # not a failure (the folder's articles load); said, so a file of the wrong type isn't lost silently
        logger.warning("%s: ignored %s of types newsbot does not read: %s", root,
                       plural(sum(ignored.values()), "file"),
                       ", ".join(f"{ext} ×{n}" for ext, n in sorted(ignored.items(), key=lambda x: (-x[1], x[0]))))


def load_paths(
    paths: Iterable[str | Path], source: str | None = None, max_bytes: int = 10 * 1024 * 1024,
    today: date | None = None, max_chars: int = MAX_ARTICLE_CHARS, pdf_max_pages: int = PDF_MAX_PAGES,
) -> Iterator[Article | LoadFailure]:
    """Every article under the given paths, with one LoadFailure per input that was skipped."""
    for item in iter_files(paths):
        if isinstance(item, LoadFailure):
            yield item
        else:
            yield from load_file(item, source, max_bytes, today, max_chars, pdf_max_pages)
