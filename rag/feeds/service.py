"""Feeds and links for one store: add (with autodiscovery), remove, list, import/export, poll, ingest a URL.

Built without the embedding model: only `poll` and `ingest_url` need `ingest` (Services.ingest), so `newsbot feeds
list` and `/feeds list` open nothing heavier than SQLite.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import cached_property

from rag.errors import NewsbotError
from rag.feeds.registry import FULL_TEXT, Feed, FeedStore
from rag.libraries import check_library, guild_of

_EVERY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*$", re.I)
_UNITS = {"": 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
MIN_EVERY_S, MAX_EVERY_S = 60, 7 * 86400
MAX_CANDIDATES = 3  # feeds of a home page tried by autodiscovery: a page can't make us fetch hundreds


class FeedInputError(NewsbotError):
    """A feed command's input is wrong (an interval, a --full-text value, a URL not registered)."""


def parse_every(value: str | int | None, default: int) -> int:
    """`30m`, `1h`, `90s`, `2d` or seconds -> seconds, between 1 minute and 7 days."""
    if value is None or value == "":
        return default
    match = _EVERY.match(str(value))
    if not match:
        raise FeedInputError(f"interval {value!r} is not valid: use e.g. 30m, 2h, 1d or 900 (seconds)")
    seconds = int(float(match.group(1)) * _UNITS[(match.group(2) or "").lower()])
    if not MIN_EVERY_S <= seconds <= MAX_EVERY_S:
        raise FeedInputError(f"interval {value!r} is out of range: between 1m and 7d")
    return seconds


class FeedQuotaError(FeedInputError):
    """The library already polls NEWSBOT_FEED_MAX_PER_LIBRARY feeds."""


def served_library(library: str, allowed_guilds: frozenset[int] | None) -> bool:
    """Whether the bot serves a library's server: a server's own library (`guild-<id>`) only while
    NEWSBOT_ALLOWED_GUILDS is unset or names it; every other library always."""
    guild = guild_of(library)
    return allowed_guilds is None or guild is None or guild in allowed_guilds


class FeedService:
    """The feed operations over one store; `ingest(items, library)` is needed only to poll or ingest a URL."""

    def __init__(self, settings, store: FeedStore | None = None, ingest: Callable | None = None) -> None:
        self.settings = settings
        self.store = store or FeedStore(settings.data_dir, settings.database_url)
        self._ingest = ingest

    @cached_property
    def fetcher(self):
        from rag.feeds.fetch import Fetcher  # httpx: only for commands that fetch

        return Fetcher.from_settings(self.settings)

    def _library(self, library: str | None) -> str:
        return check_library(self.settings.library if library is None else library)

    def find_feed(self, url: str) -> tuple[str, str | None]:
        """(feed URL, title) for a feed URL or a home page that advertises one; FetchError/FeedError otherwise.
        A home page's first MAX_CANDIDATES feeds are tried, all within one NEWSBOT_FETCH_TOTAL_TIMEOUT_S."""
        from rag.feeds.network import FetchError
        from rag.feeds.parse import ACCEPT, FeedError, discover, looks_like_html, parse_feed
        from rag.feeds.urls import shown_url

        deadline = time.monotonic() + self.settings.fetch_total_timeout_s
        response = self.fetcher.get(url, accept=ACCEPT, deadline=deadline)
        if not looks_like_html(response.content, response.content_type):
            return response.moved_to or url, parse_feed(response.content, response.content_type, 1).title
        reasons = []
        for candidate in discover(response.content, response.url)[:MAX_CANDIDATES]:
            try:
                found = self.fetcher.get(candidate, accept=ACCEPT, deadline=deadline)
                return found.moved_to or candidate, parse_feed(found.content, found.content_type, 1).title
            except FetchError as exc:
                reasons.append(f"{shown_url(candidate)}: {exc}")
                if time.monotonic() >= deadline:
                    break
            except NewsbotError as exc:
                reasons.append(f"{shown_url(candidate)}: {exc}")
        if reasons:
            raise FeedError(f"{shown_url(url)} advertises feeds, but none of the first {MAX_CANDIDATES} could be "
                            f"read ({'; '.join(reasons)})")
        raise FeedError(f"{shown_url(url)} is a web page that advertises no feed (no <link rel=\"alternate\" "
                        "type=\"application/rss+xml\"> or similar)")

    def add(self, url: str, library: str | None = None, every: str | int | None = None, source: str | None = None,
            full_text: str = "auto") -> tuple[Feed, bool]:
        """Check the URL (autodiscovery from a home page) and register the feed, due at once; ingests nothing.
        Returns the feed and whether it is new (False: the library already had it)."""
        from rag.feeds.network import check_url
        from rag.feeds.urls import canonical_url

        library = self._library(library)
        every_s = parse_every(every, self.settings.feed_every_s)
        if full_text not in FULL_TEXT:
            raise FeedInputError(f"--full-text {full_text!r}: use auto, always or never")
        url = check_url(url)
        if self.store.get(library, canonical_url(url)) is None:
            self._check_room(library)  # before any fetch: a library at its quota costs no request
        feed_url, title = self.find_feed(url)
        feed_url = canonical_url(feed_url)
        if self.store.get(library, feed_url) is None:
            self._check_room(library)  # again: a home page's feed, or another add filled it during the fetch
        added = self.store.add(library, feed_url, title, (source or "").strip() or None, every_s, full_text)
        return self.store.get(library, feed_url), added

    def _check_room(self, library: str) -> None:
        """FeedQuotaError if the library already polls NEWSBOT_FEED_MAX_PER_LIBRARY feeds."""
        cap = self.settings.feed_max_per_library
        if len(self.store.list(library)) >= cap:
            raise FeedQuotaError(f"library {library!r} already polls {cap} feeds, its limit "
                                 "(NEWSBOT_FEED_MAX_PER_LIBRARY): remove one first, or ask the operator to raise it")

    def remove(self, url: str, library: str | None = None) -> bool:
        """Forget the feed (the articles it brought stay); False if the library has no such feed."""
        from rag.feeds.urls import canonical_url

        library = self._library(library)
        return self.store.remove(library, url.strip()) or self.store.remove(library, canonical_url(url))

    def list(self, library: str | None = None) -> list[Feed]:
        return self.store.list(self._library(library))

    def import_opml(self, content: bytes, library: str | None = None) -> tuple[int, int, int]:
        """Register the feeds of an OPML file without fetching them (each is checked at its first poll), up to the
        library's quota: (added, already there, not added because of NEWSBOT_FEED_MAX_PER_LIBRARY)."""
        from rag.feeds.network import check_url
        from rag.feeds.parse import read_opml
        from rag.feeds.urls import canonical_url

        library = self._library(library)
        room = self.settings.feed_max_per_library - len(self.store.list(library))
        added = already = over = 0
        for url, title in read_opml(content):
            try:
                url = canonical_url(check_url(url))
            except NewsbotError:
                continue
            if self.store.get(library, url) is not None:
                already += 1
            elif added >= room:
                over += 1
            elif self.store.add(library, url, title, None, self.settings.feed_every_s, "auto"):
                added += 1
            else:
                already += 1
        if over and not added:
            self._check_room(library)  # nothing fitted: the same refusal as `feeds add`
        return added, already, over

    def export_opml(self, library: str | None = None) -> str:
        from rag.feeds.parse import write_opml

        library = self._library(library)
        return write_opml([(f.url, f.title) for f in self.store.list(library)], f"newsbot feeds: {library}")

    def any_due(self) -> bool:
        """Whether a feed of any library is due now (nothing is claimed)."""
        return self.store.any_due(time.time())

    def poll(self, library: str | None = None, all_feeds: bool = False, every_library: bool = False):
        """One pass over the due feeds of a library (or of every library: the bot); a PollResult."""
        from rag.feeds.poll import Poller

        if self._ingest is None:
            raise NewsbotError("polling needs the store's ingest (build the feeds through Services)")
        poller = Poller(self.store, self.fetcher, self._ingest, self.settings)
        if every_library:  # the bot's pass: a server taken off NEWSBOT_ALLOWED_GUILDS keeps its feeds, unpolled
            allowed = self.settings.allowed_guilds
            return poller.poll(None, all_feeds, lambda name: served_library(name, allowed))
        return poller.poll(self._library(library), all_feeds)

    def load_url(self, url: str, source: str | None = None):
        """One article page as an Article (or a LoadFailure saying why not), like a file from `load_paths`."""
        from rag.articles.article import LoadFailure
        from rag.feeds.network import FetchError, check_url
        from rag.feeds.poll import fetch_article
        from rag.feeds.urls import shown_url

        try:
            return fetch_article(self.fetcher, check_url(url), source, self.settings.max_article_chars)
        except FetchError as exc:
            return LoadFailure(shown_url(url), str(exc))

    def ingest_url(self, url: str, library: str | None = None, source: str | None = None):
        """One article page into the library: an IngestResult, as for files."""
        if self._ingest is None:
            raise NewsbotError("ingesting needs the store's ingest (build the feeds through Services)")
        return self._ingest([self.load_url(url, source)], self._library(library))
