"""One pass over due feeds: conditional GET, parse, dedupe, full text where needed, ingest, then backoff or next due.

Feeds are fetched and their pages extracted by at most `feed_workers` threads while the caller's thread ingests the
feeds already prepared, as each is ready (embedding overlaps fetching). Each feed has NEWSBOT_FEED_DEADLINE_S: one
that is not prepared by then fails (and backs off) and its thread is abandoned, so a server that never answers
can't stall the pass. Each feed is claimed (a lease in the database, rag/feeds/registry.py) only when a thread is
free to fetch it, so pollers running at once (the bot, `newsbot worker`s, `feeds poll`, on any machines) share the
due feeds between them instead of one taking them all, and none fetches a feed another holds. Entries are recorded
as seen only after their ingest committed, so a crash anywhere leaves at most work to redo, never an entry marked
seen that was not stored.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from urllib.parse import urljoin

from rag.articles.article import MAX_ARTICLE_CHARS, Article, LoadFailure, cap_article, make_article
from rag.articles.formats import extract_page
from rag.errors import NewsbotError
from rag.feeds.fetch import Fetcher, Response
from rag.feeds.network import FetchError
from rag.feeds.parse import ACCEPT, Entry, FeedDoc, parse_feed
from rag.feeds.registry import Feed, FeedStore, poller_id
from rag.feeds.urls import canonical_url, shown_url

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 24 * 3600
BATCH_ARTICLES = 32  # articles ingested together (several small feeds make one embedding batch)
PAGE_ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"


@dataclass
class PollResult:
    """What one pass did; `failed` names each feed that failed and why."""

    feeds: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: int = 0
    failed: list[dict] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    pages_fetched: int = 0
    chunks_embedded: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict:
        return {"feeds": self.feeds, "new": self.new, "updated": self.updated, "unchanged": self.unchanged,
                "failed": self.failed, "not_modified": self.not_modified, "paused": self.paused,
                "pages_fetched": self.pages_fetched, "chunks_embedded": self.chunks_embedded,
                "warnings": self.warnings}


@dataclass
class _Prepared:
    """A feed fetched, parsed and its new or changed entries turned into articles (nothing stored yet)."""

    feed: Feed
    response: Response | None = None
    doc: FeedDoc | None = None
    error: FetchError | NewsbotError | None = None
    items: list[tuple[Entry, str | None, Article | LoadFailure]] = field(default_factory=list)  # entry, url, item
    unchanged: int = 0
    pages: int = 0
    warnings: list[str] = field(default_factory=list)
    deadline: float = math.inf  # time.monotonic() by which the feed must be prepared
    pages_deferred: int = 0  # entries left unseen for the next poll: too near the deadline to fetch their page
    partial: bool = False  # entries were left for the next poll: its GET must not be conditional (a 304 hides them)


class FeedDeadline(NewsbotError):
    """A feed was not fetched and prepared within NEWSBOT_FEED_DEADLINE_S."""


def text_of(response: Response) -> str:
    """A page's text: the charset the server declared, else what `decode_bytes` finds."""
    from rag.articles.decode import decode_bytes

    charset = response.content_type.lower().partition("charset=")[2].split(";")[0].strip(" \"'")
    if charset:
        try:
            return response.content.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return decode_bytes(response.content)


def fetch_article(fetcher: Fetcher, url: str, source: str | None = None,
                  max_chars: int = MAX_ARTICLE_CHARS) -> Article | LoadFailure:
    """One article page: fetched, its main text extracted (cut to `max_chars`), title, date and outlet from its
    metadata."""
    try:
        response = fetcher.get(url, accept=PAGE_ACCEPT)
        page = extract_page(text_of(response), response.url)
        return cap_article(make_article(title=page.title, body=page.text, origin=url, source=source or page.sitename,
                                        published=page.date, url=canonical_url(response.url)), max_chars)
    except NewsbotError as exc:
        return LoadFailure(url, str(exc))


class Poller:
    """Polls feeds into their libraries through `ingest(items, library)` (Services.ingest)."""

    def __init__(self, store: FeedStore, fetcher: Fetcher, ingest: Callable, settings) -> None:
        self.store = store
        self.fetcher = fetcher
        self.ingest = ingest
        self.settings = settings
        self.owner = poller_id()

    def poll(self, library: str | None = None, all_feeds: bool = False,
             polled: Callable[[str], bool] | None = None) -> PollResult:
        """Every due feed of `library` (None: of every library `polled` accepts), or all unpaused ones with
        `all_feeds`."""
        now = time.time()
        feeds = self.store.candidates(library, now, all_feeds, polled)
        result = PollResult()
        left, rank = Counter(f.library for f in feeds), {id(f): i for i, f in enumerate(feeds)}
        batches: dict[str, list[_Prepared]] = {}
        for feed, prepared in self.prepare_all(feeds, lambda f: self.store.claim(
                f, self.owner, time.time(), self.settings.feed_lease_s, all_feeds)):
            name = feed.library
            left[name] -= 1
            batch = batches.setdefault(name, [])
            if prepared is not None:  # else another poller claimed it first
                result.feeds += 1
                batch.append(prepared)
            # one library's feeds make one embedding batch, stored once it is full or the library's last feed is in;
            # in the order the feeds were added, whichever finished first (the older feed keeps an article both bring)
            if batch and (not left[name] or sum(len(p.items) for p in batch) >= BATCH_ARTICLES):
                self.store_batch(sorted(batches.pop(name), key=lambda p: rank[id(p.feed)]), result)
        return result

    # ---- in the worker threads: fetch, parse, full text (nothing stored) -------------------------------------

    def prepare_all(self, feeds: list[Feed], claim: Callable[[Feed], bool]) -> Iterator[tuple[Feed, _Prepared | None]]:
        """Each feed prepared, in the order they finish, by at most `feed_workers` threads at once, each claimed
        just before its thread starts ((feed, None) at once for a feed another poller holds). A feed not prepared
        by its deadline comes back failed and its thread is abandoned: never joined (a daemon, so not even at
        exit), its late result dropped; a fresh thread takes its place."""
        done: queue.SimpleQueue[tuple[int, _Prepared]] = queue.SimpleQueue()
        waiting, running = deque(enumerate(feeds)), {}  # running: index -> (feed, deadline)
        limit = self.settings.feed_deadline_s
        while waiting or running:
            while waiting and len(running) < self.settings.feed_workers:
                i, feed = waiting.popleft()
                if not claim(feed):
                    yield feed, None
                    continue
                running[i] = feed, time.monotonic() + limit
                threading.Thread(target=lambda i=i, f=feed, d=running[i][1]: done.put((i, self.prepare(f, d))),
                                 name=f"newsbot-feed-{i}", daemon=True).start()
            if not running:
                continue
            finished = self._finished(done, min(d for _, d in running.values()))
            for i, prepared in finished:
                if running.pop(i, None) is not None:  # else: abandoned already, and failed
                    yield prepared.feed, prepared
            for i, (feed, deadline) in list(running.items()):
                if time.monotonic() >= deadline:
                    del running[i]
                    logger.warning("feed %s: abandoned after %g s (NEWSBOT_FEED_DEADLINE_S)", feed.url, limit)
                    yield feed, _Prepared(feed, error=FeedDeadline(
                        f"not fetched within {limit:g} s (NEWSBOT_FEED_DEADLINE_S): the server answers too slowly "
                        "or never; tried again later"))

    @staticmethod
    def _finished(done: queue.SimpleQueue, until: float) -> list[tuple[int, _Prepared]]:
        """The feeds prepared by now, waiting for one until `until` (monotonic) if none is yet."""
        try:
            found = [done.get(timeout=max(0.0, until - time.monotonic()))]
        except queue.Empty:
            return []
        while True:  # all that finished meanwhile, before any deadline is judged (storing may have taken long)
            try:
                found.append(done.get_nowait())
            except queue.Empty:
                return found

    def prepare(self, feed: Feed, deadline: float = math.inf) -> _Prepared:
        out = _Prepared(feed, deadline=deadline)
        try:
            self._prepare(out)
        except NewsbotError as exc:
            out.error = exc
        except Exception as exc:  # a parser or extractor bug must not stop the other feeds
            logger.exception("feed %s: unexpected error", feed.url)
            out.error = NewsbotError(f"{type(exc).__name__}: {exc}")
        return out

    def _prepare(self, out: _Prepared) -> None:
        feed = out.feed
        out.response = self.fetcher.get(feed.url, etag=feed.etag, last_modified=feed.last_modified, accept=ACCEPT)
        if out.response.not_modified:
            return
        out.doc = parse_feed(out.response.content, out.response.content_type, self.settings.feed_max_entries)
        if out.doc.total_entries > len(out.doc.entries):
            out.warnings.append(f"{feed.url}: read the first {len(out.doc.entries)} of {out.doc.total_entries} "
                                "entries (NEWSBOT_FEED_MAX_ENTRIES)")
        # links may be relative to the feed (feedparser is told not to rewrite anything)
        entries = [replace(e, link=urljoin(out.response.url, e.link)) if e.link else e for e in out.doc.entries]
        seen = self.store.seen(feed.library, feed.url)
        fresh = [e for e in entries if seen.get(e.id) != e.fingerprint]
        out.unchanged = len(entries) - len(fresh)
        cap = self.settings.feed_max_new_per_poll
        if len(fresh) > cap:  # newest first; the rest are not marked seen, so the next polls bring them
            out.warnings.append(f"{feed.url}: took {cap} of {len(fresh)} new or changed entries "
                                "(NEWSBOT_FEED_MAX_NEW_PER_POLL); the rest come with the next polls")
            fresh, out.partial = fresh[:cap], True
        urls = {e.id: canonical_url(e.link) if e.link else None for e in fresh}
        owned = self.store.owner_of(feed.library, [u for u in urls.values() if u], feed.url)
        for entry in fresh:
            url = urls[entry.id]
            if url and url in owned:  # another feed of the library brought this article: stored once
                out.items.append((entry, url, None))
                continue
            # a page fetch may take NEWSBOT_FETCH_TOTAL_TIMEOUT_S: none is started that could overrun the feed's
            # deadline; such an entry is not marked seen, so a later poll fetches its page (its full text kept)
            if self.wants_page(feed, entry) and \
                    time.monotonic() + self.settings.fetch_total_timeout_s > out.deadline:
                out.pages_deferred += 1
                out.partial = True
                continue
            out.items.append((entry, url, self.article(feed, out.doc, entry, url, out)))
        if out.pages_deferred:
            out.warnings.append(f"{feed.url}: {out.pages_deferred} entries left for the next poll: their pages "
                                "could not be fetched within the feed's deadline (NEWSBOT_FEED_DEADLINE_S)")

    def wants_page(self, feed: Feed, entry: Entry) -> bool:
        """Whether the entry's article page is fetched: `always`, or `auto` and the entry is only a teaser."""
        return bool(entry.link) and (feed.full_text == "always" or (
            feed.full_text == "auto" and len(entry.text) < self.settings.feed_teaser_chars))

    def article(self, feed: Feed, doc: FeedDoc, entry: Entry, url: str | None, out: _Prepared) -> Article | LoadFailure:
        """The entry as an article, its page fetched and extracted when the entry is only a teaser."""
        origin = f"{feed.url} entry {shown_url(entry.link) if entry.link else entry.id}"  # no credentials kept
        page = None
        if self.wants_page(feed, entry):
            try:
                response = self.fetcher.get(entry.link, accept=PAGE_ACCEPT)
                out.pages += 1
                page = extract_page(text_of(response), response.url)
            except Exception as exc:  # FetchError, IngestError, or an extractor bug: the entry's own text serves
                out.warnings.append(f"{origin}: page not used ({exc}); stored the feed's text")
        body = page.text if page is not None and len(page.text or "") > len(entry.text) else entry.text
        published = entry.published or (page.date if page is not None else None) or \
            datetime.now(UTC).date().isoformat()
        try:
            return cap_article(make_article(
                title=entry.title or (page.title if page is not None else None), body=body, origin=origin,
                source=feed.source or doc.title or (page.sitename if page is not None else None),
                published=published.isoformat() if hasattr(published, "isoformat") else published, url=url),
                self.settings.max_article_chars)
        except NewsbotError as exc:
            return LoadFailure(origin, str(exc))

    # ---- in the caller's thread: store, record, schedule ----------------------------------------------------

    def settle(self, prepared: _Prepared, result: PollResult) -> bool:
        """Record what needs no ingest (a move, a failure, a 304); True if the feed has entries to store."""
        feed, response = prepared.feed, prepared.response
        result.warnings.extend(prepared.warnings)
        result.pages_fetched += prepared.pages
        if response is not None and response.moved_to:
            old = feed.url
            if self.store.move(feed, canonical_url(response.moved_to)):
                result.warnings.append(f"{old}: moved permanently; now polling {feed.url}")
        if prepared.error is not None:
            self._failed(feed, str(prepared.error), getattr(prepared.error, "retry_after", None), result)
            return False
        if response.not_modified:
            result.not_modified += 1
            now = time.time()
            self.store.record_ok(feed, title=None, etag=response.etag or feed.etag,
                                 last_modified=response.last_modified or feed.last_modified,
                                 next_due=self._next_due(feed, response, now), now=now)
            return False
        result.unchanged += prepared.unchanged
        return True

    def store_batch(self, batch: list[_Prepared], result: PollResult) -> None:
        """Feeds of one library, their new and changed articles ingested together (one embedding batch, not one
        per feed), then each feed's entries recorded as seen and its next poll scheduled."""
        library, batch = batch[0].feed.library, [p for p in batch if self.settle(p, result)]
        if not batch:
            return
        rows, claimed = [], set()
        for prepared in batch:  # again: a feed stored before this one (or earlier in the batch) may have it
            owned = claimed | set(self.store.owner_of(
                library, [u for _, u, i in prepared.items if u and i is not None], prepared.feed.url))
            rows.append([(e, u, None if u in owned else i) for e, u, i in prepared.items])
            claimed.update(u for _, u, i in rows[-1] if u and i is not None)
        self._ingest(library, batch, rows, result)

    def _ingest(self, library: str, batch: list[_Prepared], rows: list[list], result: PollResult) -> None:
        articles = [i for items in rows for _, _, i in items if i is not None]
        try:
            ingested = self.ingest(articles, library) if articles else None
        except Exception as exc:  # the store refused the write
            if len(batch) > 1:  # find the feed at fault: each on its own, so the others still land
                for prepared, items in zip(batch, rows):
                    self._ingest(library, [prepared], [items], result)
                return
            logger.exception("storing feed %s failed", batch[0].feed.url)
            self._failed(batch[0].feed, f"store: {type(exc).__name__}: {exc}", None, result)
            return  # its entries are not marked seen: the next poll brings them again
        if ingested is not None:
            result.new += len(ingested.added)
            result.updated += len(ingested.updated)
            result.unchanged += len(ingested.unchanged)
            result.chunks_embedded += ingested.chunks_written
            result.warnings.extend(f"{f.origin}: {f.reason}" for f in ingested.failed)
            result.warnings.extend(ingested.warnings)  # an article's own: cut to NEWSBOT_MAX_ARTICLE_CHARS, …
        now = time.time()
        for prepared, items in zip(batch, rows):
            feed, response = prepared.feed, prepared.response
            result.unchanged += sum(i is None for _, _, i in items)
            self.store.record_entries(library, feed.url, [
                (e.id, u, e.fingerprint, i.article_id if isinstance(i, Article) else None) for e, u, i in items], now)
            # validators kept only when every entry was taken: else the next GET would be answered 304
            self.store.record_ok(feed, title=prepared.doc.title, etag=None if prepared.partial else response.etag,
                                 last_modified=None if prepared.partial else response.last_modified,
                                 next_due=self._next_due(feed, response, now), now=now)

    def _next_due(self, feed: Feed, response: Response, now: float) -> float:
        """The feed's interval, or longer when Cache-Control max-age asks for it."""
        return now + max(feed.every_s, min(response.max_age or 0, MAX_BACKOFF_S))

    def _failed(self, feed: Feed, reason: str, retry_after: float | None, result: PollResult) -> None:
        """Exponential backoff from the feed's interval (at least Retry-After); paused after many in a row."""
        failures = feed.failures + 1
        delay = max(min(feed.every_s * 2 ** (failures - 1), MAX_BACKOFF_S), retry_after or 0)
        pause = failures >= self.settings.feed_pause_after
        self.store.record_failure(feed, reason, time.time() + delay, pause)
        result.failed.append({"url": feed.url, "reason": reason})
        if pause:
            result.paused.append(feed.url)
        logger.warning("feed %s failed (%d in a row%s): %s", feed.url, failures, ", paused" if pause else "", reason)

