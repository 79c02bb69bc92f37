"""Feed fixtures on the local news site (tests/doubles/feeds_site.py) and reading back what a library stored."""

from __future__ import annotations

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
