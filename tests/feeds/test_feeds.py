"""Feeds and links (issue #13) against a local news site on 127.0.0.1 whose fixtures are written here."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from rag.feeds.fetch import Fetcher
from rag.feeds.network import FetchError
from rag.feeds.parse import FeedError, parse_feed
from rag.feeds.service import FeedService
from rag.feeds.urls import canonical_url
from tests.conftest import make_settings
from tests.doubles.feeds_site import BOMB, LAST_MODIFIED, Page, article_page, atom, paragraphs, rdf, rss
from tests.support.cli import cli_main
from tests.support.feeds import teaser_site, texts


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    """Services over one store for the module; each test writes to a library of its own."""
    from rag.services import build_services

    return build_services(make_settings(tmp_path_factory.mktemp("feeds"), allow_private_urls=True,
                                        fetch_read_timeout_s=0.5, fetch_total_timeout_s=5, feed_pause_after=3,
                                        fetch_max_bytes=2 * 1024 * 1024))


# ---- polling -----------------------------------------------------------------------------------------------------

def test_teasers_land_with_their_pages_text_and_a_second_poll_is_conditional_and_embeds_nothing(svc, lib, site):
    pages = teaser_site(site)
    feed, added = svc.add_feed(site.url("/news/rss.xml"), library=lib)
    assert added and feed.title == "Tampere Courier"
    assert svc.list_articles(libraries=(lib,)) == []  # add registers, ingests nothing

    first = svc.poll_feeds(library=lib)
    assert (first.new, first.pages_fetched, first.failed) == (3, 3, [])
    stored = texts(svc, lib)
    assert set(stored) == {f"Tampere budget review {i} & more" for i in range(3)}
    assert paragraphs("Tampere1")[4] in stored["Tampere budget review 1 & more"]  # the page's text, not the teaser
    [one] = [a for a in svc.list_articles(libraries=(lib,)) if a.title.endswith("0 & more")]
    assert one.url == site.url(pages[0]) and one.source == "Tampere Courier" and one.published == "2024-11-12"

    page_hits = sum(site.hits[p] for p in pages)
    second = svc.poll_feeds(library=lib, all_feeds=True)
    assert (second.not_modified, second.chunks_embedded, second.pages_fetched, second.new) == (1, 0, 0, 0)
    assert site.conditional["/news/rss.xml"] == 1 and site.not_modified["/news/rss.xml"] == 1
    assert sum(site.hits[p] for p in pages) == page_hits
    [listed] = svc.list_feeds(library=lib)
    shown = listed.shown()
    assert {"url", "title", "every_s", "last_ok", "last_error", "entries", "next_due"} <= set(shown)
    assert shown["entries"] == 3 and shown["last_error"] is None and shown["last_ok"]


def test_an_unchanged_feed_without_validators_fetches_no_page_again_and_a_changed_entry_is_one_version(svc, lib,
                                                                                                      site):
    pages = teaser_site(site, etag=None, town="Oulu")
    svc.add_feed(site.url("/news/rss.xml"), library=lib)
    assert svc.poll_feeds(library=lib).new == 3
    hits = sum(site.hits[p] for p in pages)
    again = svc.poll_feeds(library=lib, all_feeds=True)
    assert (again.unchanged, again.pages_fetched, again.chunks_embedded) == (3, 0, 0)
    assert sum(site.hits[p] for p in pages) == hits

    site.routes[pages[1]] = Page(article_page("Oulu budget review 1", paragraphs("Oulu1") + [
        "Late on Tuesday the council reversed its decision and approved the harbour works after all."]),
        "text/html")
    feed_bytes = site.routes["/news/rss.xml"].body.replace(b"A short teaser.</description><pubDate",
                                                           b"A short teaser.</description><pubDate", 1)
    site.routes["/news/rss.xml"] = Page(feed_bytes.replace(b"Oulu budget review 1 &amp; more",
                                                           b"Oulu budget review 1 &amp; more (updated)"))
    changed = svc.poll_feeds(library=lib, all_feeds=True)
    assert (changed.updated, changed.new, changed.pages_fetched) == (1, 0, 1)
    stored = texts(svc, lib)
    assert len(stored) == 3 and "Oulu budget review 1 & more" not in stored  # one version, the new one
    assert "reversed its decision" in stored["Oulu budget review 1 & more (updated)"]


def test_last_modified_alone_makes_the_second_poll_conditional_and_max_age_delays_the_next(svc, lib, site):
    teaser_site(site, etag=None, town="Raahe")
    page = site.routes["/news/rss.xml"]
    page.last_modified, page.headers = LAST_MODIFIED, {"Cache-Control": "public, max-age=7200"}
    svc.add_feed(site.url("/news/rss.xml"), library=lib)
    start = time.time()
    assert svc.poll_feeds(library=lib).new == 3
    [feed] = svc.list_feeds(library=lib)
    assert feed.next_due >= start + 7200  # max-age is longer than the 30 min interval
    again = svc.poll_feeds(library=lib, all_feeds=True)
    assert again.not_modified == 1 and site.not_modified["/news/rss.xml"] == 1


def test_atom_full_content_json_feed_and_rdf_land_without_page_fetches(svc, lib, site):
    long_text = " ".join(paragraphs("Lahti", 8))
    site.routes["/atom.xml"] = Page(atom("Lahti Ledger", [
        {"id": "urn:lahti:1", "title": "Lahti &lt;b&gt;opens&lt;/b&gt; the port", "link": site.url("/l1"),
         "content": f"<p>{long_text}</p>"}]), "application/atom+xml")
    site.routes["/feed.json"] = Page(json.dumps({
        "version": "https://jsonfeed.org/version/1.1", "title": "Kotka Daily",
        "items": [{"id": "k1", "url": "/k1", "title": "Kotka port expands",
                   "content_html": "<p>" + " ".join(paragraphs("Kotka", 8)) + "</p>",
                   "date_published": "2024-11-10T08:00:00Z"}]}).encode(), "application/feed+json")
    site.routes["/rdf.xml"] = Page(rdf("Pori Päivä", [
        {"link": site.url("/p1"), "title": "Pori &amp; Rauma agree",
         "description": " ".join(paragraphs("Pori", 8))}]), "application/rdf+xml")
    for path in ("/atom.xml", "/feed.json", "/rdf.xml"):
        svc.add_feed(site.url(path), library=lib)
    result = svc.poll_feeds(library=lib)
    assert (result.new, result.pages_fetched, result.failed) == (3, 0, [])
    found = {a.title: a for a in svc.list_articles(libraries=(lib,))}
    assert set(found) == {"Lahti opens the port", "Kotka port expands", "Pori & Rauma agree"}
    assert found["Pori & Rauma agree"].source == "Pori Päivä" and found["Kotka port expands"].published == "2024-11-10"
    assert found["Kotka port expands"].url == site.url("/k1")  # a relative link, resolved against the feed
    assert svc.poll_feeds(library=lib, all_feeds=True).unchanged == 3  # relative link included
    assert site.hits["/l1"] == site.hits["/k1"] == site.hits["/p1"] == 0


def test_the_same_article_through_two_feeds_is_stored_once(svc, lib, site):
    teaser_site(site, "/a.xml", n=2, town="Espoo")
    site.routes["/b.xml"] = Page(site.routes["/a.xml"].body.replace(b"utm_source=rss", b"utm_source=other")
                                 .replace(b"Espoo Courier", b"Espoo Mirror"))
    svc.add_feed(site.url("/a.xml"), library=lib)
    svc.add_feed(site.url("/b.xml"), library=lib)
    result = svc.poll_feeds(library=lib)
    assert result.new == 2 and result.failed == []
    assert len(svc.list_articles(libraries=(lib,))) == 2
    assert {a.source for a in svc.list_articles(libraries=(lib,))} == {"Espoo Courier"}


def test_bad_feeds_are_named_with_their_reason_while_the_rest_land_and_nothing_stored_is_lost(svc, lib, site):
    teaser_site(site, "/good.xml", n=2, town="Vaasa")
    svc.add_feed(site.url("/good.xml"), library=lib)
    assert svc.poll_feeds(library=lib).new == 2
    teaser_site(site, "/final.xml", n=1, town="Kemi")
    site.routes["/bad.xml"] = Page(b"this is <<< not a feed", "text/plain")
    site.routes["/bomb.xml"] = Page(BOMB, "application/rss+xml")
    site.routes["/error.xml"] = Page(b"oops", "text/plain", 500)
    site.routes["/busy.xml"] = Page(b"slow down", "text/plain", 429, {"Retry-After": "7200"})
    site.routes["/m1.xml"] = Page(b"", "text/plain", 301, {"Location": "/m2.xml"})
    site.routes["/m2.xml"] = Page(b"", "text/plain", 308, {"Location": "/final.xml"})
    site.routes["/huge.xml"] = Page(b"<rss>" + b" " * (20 * 1024 * 1024) + b"</rss>")

    def slow(handler):
        site.release.wait(5)

    site.routes["/slow.xml"] = slow
    loop = [f"/loop{i}.xml" for i in range(7)]
    for here, there in zip(loop, loop[1:] + loop[:1]):
        site.routes[here] = Page(b"", "text/plain", 302, {"Location": there})
    opml = "".join(f'<outline text="x" xmlUrl="{site.url(p)}"/>' for p in
                   ("/bad.xml", "/bomb.xml", "/error.xml", "/busy.xml", "/m1.xml", "/huge.xml", "/slow.xml",
                    "/loop0.xml"))
    service = svc.feeds
    assert service.import_opml(f"<opml version='2.0'><body>{opml}</body></opml>".encode(), lib) == (8, 0, 0)
    site.routes["/good.xml"] = Page(site.routes["/good.xml"].body.replace(b"Vaasa budget review 0",
                                                                          b"Vaasa budget review zero"))
    before = time.time()
    result = svc.poll_feeds(library=lib, all_feeds=True)
    reasons = {f["url"].removeprefix(site.base): f["reason"] for f in result.failed}
    assert set(reasons) == {"/bad.xml", "/bomb.xml", "/error.xml", "/busy.xml", "/huge.xml", "/slow.xml",
                            "/loop0.xml"}
    assert "not a feed" in reasons["/bad.xml"] and "entit" in reasons["/bomb.xml"]
    assert "HTTP 500" in reasons["/error.xml"] and "HTTP 429" in reasons["/busy.xml"]
    assert "limit" in reasons["/huge.xml"] and "timed out" in reasons["/slow.xml"]
    assert "redirects" in reasons["/loop0.xml"]
    assert (result.new, result.updated) == (1, 1)  # the moved feed's entry, and the good feed's changed one
    titles = {a.title for a in svc.list_articles(libraries=(lib,))}
    assert titles == {"Vaasa budget review zero & more", "Vaasa budget review 1 & more", "Kemi budget review 0 & more"}
    listed = {f.url.removeprefix(site.base): f for f in svc.list_feeds(library=lib)}
    assert "/final.xml" in listed and "/m1.xml" not in listed  # a permanent redirect chain moves the feed
    assert listed["/busy.xml"].next_due >= before + 7200 and listed["/busy.xml"].last_error.startswith("HTTP 429")
    assert listed["/error.xml"].failures == 1 and listed["/good.xml"].last_error is None


def test_a_failing_feed_backs_off_then_is_paused_and_reported_never_dropped(svc, lib, site):
    site.routes["/down.xml"] = Page(b"down", "text/plain", 503)
    svc.feeds.import_opml(f'<opml><body><outline xmlUrl="{site.url("/down.xml")}"/></body></opml>'.encode(), lib)
    delays = []
    for _ in range(3):  # feed_pause_after=3 in this module's settings
        start = time.time()
        result = svc.poll_feeds(library=lib, all_feeds=True)
        [feed] = svc.list_feeds(library=lib)
        delays.append(feed.next_due - start)
    assert result.paused == [site.url("/down.xml")] and result.failed[0]["reason"].startswith("HTTP 503")
    assert delays[0] >= 1800 and delays[1] >= 2 * 1800 - 5
    assert feed.paused and feed.failures == 3 and feed.shown()["next_due"] is None
    assert svc.poll_feeds(library=lib, all_feeds=True).feeds == 0  # paused: skipped, still listed


def test_autodiscovery_finds_the_feed_a_home_page_advertises(svc, lib, site):
    site.routes["/atom.xml"] = Page(atom("Turku Times", [{"id": "t1", "title": "x", "link": "https://t.example/1",
                                                         "content": "y"}]), "application/atom+xml")
    site.routes["/"] = Page(b'<!DOCTYPE html><html><head><title>Turku Times</title><link rel="alternate" '
                            b'type="application/atom+xml" href="/atom.xml"></head><body>Hi</body></html>',
                            "text/html")
    feed, _ = svc.add_feed(site.url("/"), library=lib)
    assert feed.url == site.url("/atom.xml") and feed.title == "Turku Times"
    site.routes["/plain.html"] = Page(b"<!DOCTYPE html><html><body>No feeds here</body></html>", "text/html")
    with pytest.raises(FeedError, match="advertises no feed"):
        svc.add_feed(site.url("/plain.html"), library=lib)


# ---- links -------------------------------------------------------------------------------------------------------

def test_ingest_url_takes_title_date_and_outlet_from_the_page(svc, lib, site):
    site.routes["/story.html"] = Page(article_page("Harbour works approved", paragraphs("Kuopio"),
                                                   site_name="Savo Post", published="2024-11-09"), "text/html")
    result = svc.ingest_url(site.url("/story.html?utm_campaign=x"), library=lib)
    assert len(result.added) == 1 and result.ok
    [article] = svc.list_articles(libraries=(lib,))
    assert (article.title, article.source, article.published, article.url) == (
        "Harbour works approved", "Savo Post", "2024-11-09", site.url("/story.html"))
    missing = svc.ingest_url(site.url("/gone.html"), library=lib)
    assert not missing.ok and "HTTP 404" in missing.failed[0].reason


# ---- safety ------------------------------------------------------------------------------------------------------

def test_loopback_is_refused_by_default_and_no_request_reaches_the_server(tmp_path, site):
    teaser_site(site)
    service = FeedService(make_settings(tmp_path / "store"))
    for url in (site.url("/news/rss.xml"), "http://localhost:%d/" % site.server.server_address[1],
                "http://[::1]/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/"):
        with pytest.raises(FetchError, match="refused"):
            service.add(url)
    with pytest.raises(FetchError, match="only http and https"):
        service.add("file:///etc/passwd")
    assert service.load_url(site.url("/news/tampere-0.html")).reason.startswith("refused")
    assert sum(site.hits.values()) == 0 and service.list() == []


def test_the_fetcher_decodes_gzip_names_newsbot_and_caps_the_body(site):
    seen = {}

    def echo(handler):
        seen["ua"] = handler.headers.get("User-Agent")
        handler._send(Page(b"ok", "text/plain"))

    site.routes["/echo"] = echo
    site.routes["/gz"] = Page(b"hello " * 1000, "text/plain", gzip=True)
    fetcher = Fetcher(allow_private=True, max_bytes=4000)
    assert fetcher.get(site.url("/echo")).content == b"ok" and seen["ua"].startswith("newsbot/")
    with pytest.raises(FetchError, match="limit"):  # 6000 bytes once decoded, though fewer on the wire
        fetcher.get(site.url("/gz"))
    assert Fetcher(allow_private=True).get(site.url("/gz")).content == b"hello " * 1000


def test_canonical_urls_drop_tracking_and_fragments():
    assert canonical_url("HTTPS://News.Example.COM:443/a/b?id=7&utm_source=x&fbclid=y#top") == \
        "https://news.example.com/a/b?id=7"
    assert canonical_url("http://example.com") == "http://example.com/"


def test_entries_per_poll_are_capped_and_entity_declarations_refused():
    items = [{"guid": str(i), "link": f"https://e.example/{i}", "title": f"t{i}", "description": "d"}
             for i in range(30)]
    doc = parse_feed(rss("Cap", items), max_entries=10)
    assert len(doc.entries) == 10 and doc.total_entries == 30
    with pytest.raises(FeedError, match="entit"):
        parse_feed(BOMB.decode().encode("utf-16"))


# ---- the CLI -----------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_add_list_poll_and_exit_1_when_a_feed_fails(tmp_path, site):
    teaser_site(site, n=1)
    site.routes["/error.xml"] = Page(b"oops", "text/plain", 500)
    env = {"NEWSBOT_DATA_DIR": str(tmp_path / "cli"), "NEWSBOT_ALLOW_PRIVATE_URLS": "true"}
    added = cli_main("--library", "news", "feeds", "add", site.url("/news/rss.xml"), "--every", "2h", env=env)
    assert added.returncode == 0, added.stderr
    bad_every = cli_main("feeds", "add", site.url("/news/rss.xml"), "--every", "soon", env=env)
    assert bad_every.returncode == 2 and "interval" in bad_every.stderr
    (tmp_path / "more.opml").write_text(f'<opml><body><outline xmlUrl="{site.url("/error.xml")}"/></body></opml>')
    assert cli_main("-l", "news", "feeds", "import", str(tmp_path / "more.opml"), env=env).returncode == 0
    listed = cli_main("-l", "news", "feeds", "list", "--json", env=env)
    rows = json.loads(listed.stdout)
    assert [r["every_s"] for r in rows] == [7200, 1800] and rows[0]["title"] == "Tampere Courier"
    polled = cli_main("-l", "news", "feeds", "poll", "--json", env=env)
    summary = json.loads(polled.stdout)
    assert polled.returncode == 1 and summary["new"] == 1
    assert summary["failed"] == [{"url": site.url("/error.xml"), "reason": "HTTP 500 Internal Server Error"}]
    exported = cli_main("-l", "news", "feeds", "export", env=env)
    assert site.url("/error.xml") in exported.stdout and "<opml" in exported.stdout
    assert cli_main("-l", "news", "feeds", "remove", site.url("/error.xml"), env=env).returncode == 0
    assert cli_main("-l", "news", "feeds", "remove", site.url("/error.xml"), env=env).returncode == 1
    assert cli_main("-l", "news", "feeds", "poll", "--all", env=env).returncode == 0
    url = cli_main("-l", "news", "ingest", site.url("/news/tampere-0.html"), env=env)
    # the article the feed brought, now with the page's own title and outlet: still one article
    assert url.returncode == 0 and "added 0, updated 1" in url.stderr and "1 articles" in url.stderr
    missing = cli_main("-l", "news", "ingest", site.url("/nope.html"), env=env)
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr


@pytest.mark.slow
def test_feeds_list_does_not_load_the_embedding_model(tmp_path):
    code = ("import sys; from rag.cli.app import app\n"
            "try: app(['feeds', 'list', '--json'])\nexcept SystemExit: pass\n"
            "print(sorted(m for m in ('onnxruntime', 'chromadb', 'httpx', 'feedparser', 'trafilatura') "
            "if m in sys.modules))")
    import os

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NEWSBOT_DATA_DIR": str(tmp_path / "s")})
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stderr


@pytest.mark.slow
def test_polling_in_a_child_process_lands_the_same_articles_in_the_shared_store(tmp_path, site):
    from rag.services import build_services

    teaser_site(site, n=2, town="Hamina")
    services = build_services(make_settings(tmp_path / "store", allow_private_urls=True))
    assert services.settings.feed_poll_process  # the bot's default
    nothing = services.poll_feeds(every_library=True, in_child=True)
    assert nothing.feeds == 0 and services._feed_child is None  # no feed due: no child, no second model
    services.feeds.store.add("guild-1", site.url("/news/rss.xml"), None, None, 1800, "auto")
    try:
        result = services.poll_feeds(every_library=True, in_child=True)
        again = services.poll_feeds(all_feeds=True, every_library=True, in_child=True)  # the same child, kept
    finally:
        services.close_feeds(wait=True)
    assert (result.new, result.pages_fetched, again.not_modified) == (2, 2, 1)
    assert {a.title for a in services.list_articles(libraries=("guild-1",))} == {
        "Hamina budget review 0 & more", "Hamina budget review 1 & more"}


def test_a_store_fault_fails_only_its_feed_and_its_entries_come_in_at_the_next_poll(svc, lib, site):
    from rag.errors import StoreError

    teaser_site(site, "/ok.xml", n=1, town="Kotka")
    teaser_site(site, "/faulty.xml", n=2, town="Porvoo")
    broken = {"now": True}

    def ingest(items, library):  # the store fails whenever a Porvoo article is in the write, until repaired
        if broken["now"] and any("Porvoo" in getattr(i, "title", "") for i in items):
            raise StoreError("disk full")
        return svc.ingest(items, library)

    service = FeedService(svc.settings, svc.feeds.store, ingest)
    service.import_opml(f'<opml><body><outline xmlUrl="{site.url("/ok.xml")}"/>'
                        f'<outline xmlUrl="{site.url("/faulty.xml")}"/></body></opml>'.encode(), lib)
    first = service.poll(lib)
    assert first.failed == [{"url": site.url("/faulty.xml"), "reason": "store: StoreError: disk full"}]
    assert {a.title for a in svc.list_articles(libraries=(lib,))} == {"Kotka budget review 0 & more"}
    broken["now"] = False
    again = service.poll(lib, all_feeds=True)  # nothing was marked seen: the entries come in now
    assert again.failed == [] and again.new == 2
    assert len(svc.list_articles(libraries=(lib,))) == 3


def test_a_redirect_to_a_private_address_is_refused_before_any_request_reaches_it(monkeypatch, site):
    import socket

    import rag.feeds.network as network

    port = site.server.server_address[1]
    real = socket.getaddrinfo
    names = {"public.test": "127.0.0.1", "private.test": "127.0.0.1"}
    asked = []

    def resolve(host, *args, **kwargs):
        asked.append(host)
        return real(names.get(host, host), *args, **kwargs)

    # For this test only, public.test counts as public: its lookup passes, private.test's does not.
    def refused(_ip):
        return "private address (test)" if asked[-1] == "private.test" else None

    monkeypatch.setattr(network.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(network, "refused_address", refused)
    site.routes["/start"] = Page(b"", "text/plain", 302, {"Location": f"http://private.test:{port}/secret"})
    site.routes["/secret"] = Page(b"internal", "text/plain")
    with pytest.raises(FetchError, match="refused private.test"):
        Fetcher().get(f"http://public.test:{port}/start")
    assert site.hits["/start"] == 1 and site.hits["/secret"] == 0
