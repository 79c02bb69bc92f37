"""Feed fixtures on the local news site (tests/doubles/feeds_site.py) and reading back what a library stored."""

from __future__ import annotations

import time

from tests.doubles.feeds_site import NewsSite, Page, article_page, paragraphs, rss


def teaser_site(site: NewsSite, path: str = "/news/rss.xml", n: int = 3, etag: str | None = "\"v1\"",
                town: str = "Tampere") -> list[str]:
    """An RSS feed of `n` teasers whose links (with tracking tags) lead to full article pages; the page URLs."""
    items, pages = [], []
    for i in range(n):
        page = f"/news/{town.lower()}-{i}.html"
        site.routes[page] = Page(article_page(f"{town} budget review {i}", paragraphs(f"{town}{i}")),
                                 "text/html; charset=utf-8")
        items.append({"guid": f"{town}-{i}", "link": site.url(page) + "?utm_source=rss&utm_medium=feed#top",
                      "title": f"{town} budget review {i} &amp; more", "description": "A short teaser."})
        pages.append(page)
    site.routes[path] = Page(rss(f"{town} Courier", items), etag=etag)
    return pages


def texts(svc, lib):
    """{title: stored text} of the library's articles (all their chunks joined)."""
    return {a.title: " ".join(c.text for c in svc.index.registry.version_chunks(a.version_id))
            for a in svc.list_articles(libraries=(lib,))}


def continue_forever(site: NewsSite):
    """A handler that answers `100 Continue` every 0.2 s and never a response, until the site closes."""
    def handler(request) -> None:
        while not site.release.wait(0.2):
            request.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.wfile.flush()
    return handler


def delayed(page: Page, delay_s: float):
    """A handler that answers `page` after `delay_s` (a server's think time, so that fetching dominates)."""
    def handler(request) -> None:
        time.sleep(delay_s)
        request._send(page)
    return handler


def many_feeds(site: NewsSite, feeds: int, entries: int, *, feed_delay_s: float = 0.0,
               page_delay_s: float = 0.0) -> list[str]:
    """`feeds` RSS feeds of `entries` teasers each, every teaser's page on the site (its text fetched): the feeds'
    paths. Each feed's articles are distinct, so every one of them is stored."""
    paths = []
    for f in range(feeds):
        items = []
        for e in range(entries):
            page = f"/f{f}/e{e}.html"
            site.routes[page] = delayed(Page(article_page(f"Town {f} report {e}", paragraphs(f"Town{f}x{e}", 3)),
                                             "text/html; charset=utf-8"), page_delay_s)
            items.append({"guid": f"f{f}-e{e}", "link": site.url(page), "title": f"Town {f} report {e}",
                          "description": "A short teaser."})
        site.routes[f"/f{f}/rss.xml"] = delayed(Page(rss(f"Town {f} Courier", items)), feed_delay_s)
        paths.append(f"/f{f}/rss.xml")
    return paths
