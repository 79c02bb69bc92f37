"""One file's text in each text format to articles: the seed format and txt/md, HTML, JSON and JSON Lines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date

from rag.articles.article import Article, LoadFailure, make_article
from rag.errors import IngestError
from rag.text import drop_code, html_text

SEED_HEADER = re.compile(r"^\s*date\s+(\d{4}-\d{2}-\d{2})\s*(.*)$")
DEEP_JSON = "JSON nested too deeply to read (an article record is a flat object)"


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
