"""Feed bytes -> `FeedDoc`: RSS 0.9x/2.0, RDF/RSS 1.0 and Atom by feedparser (fed the bytes we fetched, so its
own encoding detection applies), JSON Feed 1.x by `parse_json_feed` (feedparser 6 has no JSON Feed reader).
Also autodiscovery (a home page's `<link rel="alternate">`) and OPML.

XML entity declarations are refused before any parser sees the bytes: a feed has no use for them, and they are how
a "billion laughs" bomb expands a few kilobytes into gigabytes.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import date
from xml.etree import ElementTree

from rag.errors import NewsbotError
from rag.text import html_text

FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json",
              "application/json", "application/xml", "text/xml")
ACCEPT = ", ".join((*FEED_TYPES[:4], "application/xml;q=0.9", "text/xml;q=0.9", "*/*;q=0.5"))
_ENTITY = re.compile(rb"<!ENTITY", re.I)


class FeedError(NewsbotError):
    """The bytes are not a feed we can read (malformed, refused, or not a feed at all); the message says why."""


@dataclass(frozen=True)
class Entry:
    """One feed entry, in plain text."""

    id: str  # guid, else link, else a hash of title and text
    link: str | None
    title: str
    text: str  # the longest of content and summary, as plain text
    published: date | None  # published, else updated

    @property
    def fingerprint(self) -> str:
        """Changes when anything we would store from the entry changes."""
        key = "\x1f".join((self.link or "", self.title, self.text, str(self.published or "")))
        return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass
class FeedDoc:
    title: str | None
    site: str | None  # the feed's home page link
    entries: list[Entry] = field(default_factory=list)
    kind: str = ""
    total_entries: int = 0  # before the per-poll cap


def refuse_entities(content: bytes) -> None:
    """FeedError if the document declares XML entities (also when it is UTF-16)."""
    head = content[:1 << 20]
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") or head[:2] in (b"\x00<", b"<\x00"):
        try:
            head = head.decode("utf-16" if head[:2] in (b"\xff\xfe", b"\xfe\xff") else
                               ("utf-16-be" if head[0] == 0 else "utf-16-le"), errors="ignore").encode()
        except UnicodeError:
            pass
    if _ENTITY.search(head):
        raise FeedError("the document declares XML entities (refused: entity expansion, as in a 'billion laughs' "
                        "bomb)")


def parse_feed(content: bytes, content_type: str = "", max_entries: int = 100) -> FeedDoc:
    """The feed's title, home page and newest `max_entries` entries; FeedError when it is not a readable feed."""
    stripped = content.lstrip()
    if not stripped:
        raise FeedError("the response is empty")
    if stripped[:1] in (b"{", b"[") or "json" in content_type.lower():
        return parse_json_feed(content, max_entries)
    refuse_entities(content)
    import feedparser

    parsed = feedparser.parse(content, sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        why = parsed.get("bozo_exception")
        raise FeedError(f"not a feed: {_bozo(why)}" if why else "not a feed (no RSS, RDF, Atom or JSON Feed found)")
    meta = parsed.feed
    doc = FeedDoc(title=_clean(meta.get("title")), site=meta.get("link"), kind=parsed.get("version") or "",
                  total_entries=len(parsed.entries))
    for raw in parsed.entries[:max_entries]:
        texts = [c.get("value", "") for c in raw.get("content", [])] + [raw.get("summary", "")]
        text = max((html_text(t) for t in texts if t), key=len, default="")
        when = raw.get("published_parsed") or raw.get("updated_parsed")
        doc.entries.append(_entry(raw.get("id") or raw.get("guid"), raw.get("link"), raw.get("title"), text,
                                  date.fromtimestamp(calendar.timegm(when)) if when else None))
    return doc


def _bozo(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]


def _clean(value: object) -> str | None:
    """A title as plain text (feedparser decodes entities already; some feeds also put markup in titles)."""
    return html_text(value) or None if isinstance(value, str) else None


def _entry(entry_id: object, link: object, title: object, text: str, published: date | None) -> Entry:
    link = link.strip() if isinstance(link, str) and link.strip() else None
    title = _clean(title) or ""
    ident = entry_id.strip() if isinstance(entry_id, str) and entry_id.strip() else None
    ident = ident or link or "sha1:" + hashlib.sha1(f"{title}\x1f{text}".encode()).hexdigest()
    return Entry(id=ident, link=link, title=title, text=text, published=published)


def parse_json_feed(content: bytes, max_entries: int = 100) -> FeedDoc:
    """JSON Feed 1.0/1.1 (jsonfeed.org): `items` with id, url, title, content_html/text, date_published."""
    from rag.articles.article import parse_date

    try:
        data = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FeedError(f"malformed JSON Feed: {exc}") from None
    if not isinstance(data, dict) or "jsonfeed.org/version" not in str(data.get("version", "")) \
            or not isinstance(data.get("items"), list):
        raise FeedError("not a feed: JSON without a JSON Feed version and items")
    doc = FeedDoc(title=_clean(data.get("title")), site=data.get("home_page_url"), kind="json",
                  total_entries=len(data["items"]))
    for item in data["items"][:max_entries]:
        if not isinstance(item, dict):
            continue
        texts = [item.get(k) for k in ("content_html", "content_text", "summary")]
        text = max((html_text(t) for t in texts if isinstance(t, str)), key=len, default="")
        published = None
        for key in ("date_published", "date_modified"):
            try:
                published = parse_date(item.get(key)) if item.get(key) else None
            except ValueError:
                published = None
            if published:
                break
        item_id = item.get("id")
        doc.entries.append(_entry(str(item_id) if item_id is not None else None, item.get("url"),
                                  item.get("title"), text, published))
    return doc


def looks_like_html(content: bytes, content_type: str) -> bool:
    head = content[:2048].lstrip().lower()
    return "html" in content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def discover(content: bytes, base_url: str) -> list[str]:
    """Feed URLs a home page advertises (`<link rel="alternate" type="application/rss+xml" href=…>`), in order."""
    import lxml.html
    from urllib.parse import urljoin

    try:
        page = lxml.html.document_fromstring(content)
    except Exception:  # not HTML at all
        return []
    found = []
    for link in page.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").lower().split(";")[0].strip()
        if "alternate" in rel and kind in FEED_TYPES[:4] and link.get("href"):
            found.append(urljoin(base_url, link.get("href").strip()))
    return list(dict.fromkeys(found))


def read_opml(content: bytes) -> list[tuple[str, str | None]]:
    """(feed URL, title) for every `<outline xmlUrl=…>` of an OPML file, nested folders included."""
    refuse_entities(content)
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise FeedError(f"malformed OPML: {exc}") from None
    return [(o.get("xmlUrl").strip(), o.get("title") or o.get("text")) for o in root.iter("outline")
            if (o.get("xmlUrl") or "").strip()]


def write_opml(feeds: list[tuple[str, str | None]], title: str) -> str:
    """An OPML 2.0 document listing the feeds."""
    root = ElementTree.Element("opml", version="2.0")
    head = ElementTree.SubElement(root, "head")
    ElementTree.SubElement(head, "title").text = title
    ElementTree.SubElement(head, "dateCreated").text = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    body = ElementTree.SubElement(root, "body")
    for url, name in feeds:
        ElementTree.SubElement(body, "outline", type="rss", text=name or url, title=name or url, xmlUrl=url)
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"
