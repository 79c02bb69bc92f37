"""A local news site on 127.0.0.1 for the feed tests and benchmarks/feeds.py: fixtures are written here, in code.

`NewsSite.routes` maps a path to a `Page` (status, headers, body) or to a callable that handles the request itself;
every request is counted, and conditional ones (If-None-Match / If-Modified-Since) separately.
"""

from __future__ import annotations

import gzip
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LAST_MODIFIED = formatdate(1_700_000_000, usegmt=True)


@dataclass
class Page:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # answered with 304 when the request carries it
    last_modified: str | None = None  # likewise, with If-Modified-Since
    gzip: bool = False


class NewsSite:
    def __init__(self) -> None:
        self.routes: dict[str, Page | Callable[[BaseHTTPRequestHandler], None]] = {}
        self.hits: Counter[str] = Counter()
        self.conditional: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.release = threading.Event()  # set at close: slow handlers stop waiting
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path
                with site.lock:
                    site.hits[path] += 1
                    if self.headers.get("If-None-Match") or self.headers.get("If-Modified-Since"):
                        site.conditional[path] += 1
                route = site.routes.get(path) or site.routes.get(path.split("?")[0])
                if route is None:
                    return self._send(Page(b"not found", "text/plain", 404))
                if callable(route):
                    return route(self)
                if (route.etag and self.headers.get("If-None-Match") == route.etag) or \
                        (route.last_modified and self.headers.get("If-Modified-Since") == route.last_modified):
                    with site.lock:
                        site.not_modified[path] += 1
                    return self._send(Page(b"", route.content_type, 304, etag=route.etag))
                self._send(route)

            def _send(self, page: Page) -> None:
                body = gzip.compress(page.body) if page.gzip else page.body
                self.send_response(page.status)
                self.send_header("Content-Type", page.content_type)
                if page.status != 304:
                    self.send_header("Content-Length", str(len(body)))
                if page.gzip:
                    self.send_header("Content-Encoding", "gzip")
                if page.etag:
                    self.send_header("ETag", page.etag)
                if page.last_modified:
                    self.send_header("Last-Modified", page.last_modified)
                for key, value in page.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if page.status != 304:
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def __enter__(self) -> NewsSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


# ---- fixture documents ------------------------------------------------------------------------------------------

def article_page(title: str, paragraphs: list[str], *, site_name: str = "Example News",
                 published: str = "2024-11-12") -> bytes:
    """An article page with navigation and a footer around the text, and its metadata in <head>."""
    body = "\n".join(f"<p>{p}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} | {site_name}</title>
<meta property="og:title" content="{title}"><meta property="og:site_name" content="{site_name}">
<meta property="article:published_time" content="{published}T09:00:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/world">World</a> <a href="/sport">Sport</a></nav>
<article><h1>{title}</h1>{body}</article>
<footer>Copyright {site_name}. All rights reserved. Subscribe to our newsletter.</footer></body></html>""".encode()


def rss(title: str, items: list[dict], *, link: str = "https://example.org/") -> bytes:
    """RSS 2.0; each item: guid, link, title, description (escaped HTML), optional content (content:encoded), date."""
    parts = []
    for item in items:
        content = f"<content:encoded><![CDATA[{item['content']}]]></content:encoded>" if item.get("content") else ""
        guid = f"<guid isPermaLink=\"false\">{item['guid']}</guid>" if item.get("guid") else ""
        parts.append(f"""<item><title>{item['title']}</title><link>{item['link']}</link>{guid}
<description>{item.get('description', '')}</description>{content}
<pubDate>{item.get('date', 'Tue, 12 Nov 2024 08:00:00 GMT')}</pubDate></item>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>{title}</title><link>{link}</link><description>news</description>
{''.join(parts)}</channel></rss>""".encode()


def atom(title: str, entries: list[dict]) -> bytes:
    parts = "".join(f"""<entry><id>{e['id']}</id><title type="html">{e['title']}</title>
<link rel="alternate" href="{e['link']}"/><updated>{e.get('updated', '2024-11-12T10:00:00Z')}</updated>
<content type="html"><![CDATA[{e['content']}]]></content></entry>""" for e in entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>{title}</title><id>urn:feed:{title}</id>
<updated>2024-11-12T10:00:00Z</updated>{parts}</feed>""".encode()


def rdf(title: str, items: list[dict]) -> bytes:
    parts = "".join(f"""<item rdf:about="{i['link']}"><title>{i['title']}</title><link>{i['link']}</link>
<description>{i['description']}</description><dc:date>2024-11-11T07:00:00Z</dc:date></item>""" for i in items)
    return f"""<?xml version="1.0" encoding="iso-8859-1"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/"><channel rdf:about="x"><title>{title}</title><link>https://rdf.example/</link>
<description>d</description></channel>{parts}</rdf:RDF>""".encode("iso-8859-1")


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<rss version="2.0"><channel><title>&lol9;</title><item><title>&lol9;</title><link>https://x.example/1</link>
</item></channel></rss>"""


def paragraphs(topic: str, n: int = 6) -> list[str]:
    """Distinct, plausible sentences about `topic` (long enough that trafilatura keeps them as the main text)."""
    return [f"Officials in {topic} said on Tuesday that the {i}th review of the regional budget had found "
            f"{i * 7} projects behind schedule, and that a report on {topic} would follow next month. "
            f"Residents interviewed near the harbour in {topic} described the delays as frustrating but expected."
            for i in range(1, n + 1)]
