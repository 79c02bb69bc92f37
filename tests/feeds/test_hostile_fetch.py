"""The fetcher against a hostile site on 127.0.0.1 (issue #25): bombs, floods, drips, tarpits, absurd headers,
credentials and malformed URLs. Each test asserts what a user would notice: the reason, the bound held, nothing
stored lost. Memory and wall-time figures are in benchmarks/hostile.py."""

from __future__ import annotations

import gzip
import json
import logging
import time
import zlib

import pytest

from bot.cogs.feeds import feed_line, linked
from rag.feeds.fetch import MAX_RETRY_AFTER_S, Fetcher, retry_after_s
from rag.feeds.network import FetchError
from rag.feeds.parse import FeedError
from rag.feeds.urls import canonical_url, shown_url
from tests.conftest import make_settings
from tests.doubles.feeds_site import paragraphs, rss
from tests.doubles.hostile_site import (HostileSite, answer, deflate_bomb, encoded, gzip_bomb, stacked_gzip_bomb,
                                zstd_bomb)
from tests.support.cli import cli_main

DEADLINE_S = 2.0
CAP = 1024 * 1024


@pytest.fixture
def site():
    with HostileSite() as s:
        yield s


@pytest.fixture
def fetcher():
    f = Fetcher(allow_private=True, total_timeout_s=DEADLINE_S, read_timeout_s=1.5, max_bytes=CAP)
    yield f
    f.close()


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from rag.services import build_services

    return build_services(make_settings(tmp_path_factory.mktemp("hostile"), allow_private_urls=True,
                                        fetch_read_timeout_s=1.5, fetch_total_timeout_s=DEADLINE_S))


def a_feed(town: str, n: int = 2) -> bytes:
    return rss(f"{town} Courier", [{"guid": f"{town}-{i}", "link": f"https://{town.lower()}.example/{i}",
                                    "title": f"{town} story {i}", "description": paragraphs(town)[i] * 8}
                                   for i in range(n)])


def timed(call, *args, **kwargs):
    """(the FetchError `call` raised, seconds it took)."""
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        call(*args, **kwargs)
    return caught.value, time.monotonic() - started


# ---- bombs -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("encoding, bomb", [("gzip", lambda: gzip_bomb(32)), ("deflate", lambda: deflate_bomb(32)),
                                            ("deflate", lambda: deflate_bomb(32, raw=True))],
                         ids=["gzip", "deflate-zlib", "deflate-raw"])
def test_a_compression_bomb_is_refused_at_the_cap_with_its_reason(site, fetcher, encoding, bomb):
    site.routes["/bomb.xml"] = encoded(bomb(), encoding)
    error, _ = timed(fetcher.get, site.url("/bomb.xml"))
    assert f"over the {CAP:,}-byte limit once {encoding}-decoded (NEWSBOT_FETCH_MAX_BYTES)" in str(error)


def test_stacked_encodings_are_refused_by_name_before_anything_is_decoded(site, fetcher):
    site.routes["/stacked.xml"] = encoded(stacked_gzip_bomb(32), "gzip, gzip")
    error, _ = timed(fetcher.get, site.url("/stacked.xml"))
    assert "encoded 2 times (gzip, gzip)" in str(error) and "one gzip or deflate layer" in str(error)


@pytest.mark.parametrize("encoding", ["zstd", "br", "compress", "x-newsbot-unknown"])
def test_an_encoding_newsbot_does_not_decode_is_refused_by_name(site, fetcher, encoding):
    site.routes["/odd.xml"] = encoded(zstd_bomb(32) if encoding == "zstd" else b"\x0b\x02\x80hello\x03", encoding)
    error, _ = timed(fetcher.get, site.url("/odd.xml"))
    assert f"'{encoding}'-encoded; newsbot decodes only gzip and deflate" in str(error)


def test_gzip_and_both_deflates_within_the_cap_decode_and_only_they_are_asked_for(site, fetcher):
    text = b"<p>" + b"Harbour works approved. " * 2000 + b"</p>"
    site.routes["/gz"] = encoded(gzip.compress(text), "gzip", "text/html")
    site.routes["/zlib"] = encoded(zlib.compress(text), "deflate", "text/html")
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    site.routes["/raw"] = encoded(raw.compress(text) + raw.flush(), "deflate", "text/html")
    site.routes["/plain"] = encoded(text, "identity", "text/html")
    for path in ("/gz", "/zlib", "/raw", "/plain"):
        assert fetcher.get(site.url(path)).content == text
    assert all(b"\r\naccept-encoding: gzip, deflate\r\n" in head.lower() for head in site.requests)


# ---- tarpits: one deadline for the whole fetch --------------------------------------------------------------------

@pytest.mark.parametrize("tarpit", ["continue_flood", "dripped_headers", "slow_body"])
def test_a_tarpit_is_cut_off_at_the_total_deadline_with_the_setting_named(site, fetcher, tarpit):
    site.routes["/pit"] = getattr(site, tarpit)()
    error, took = timed(fetcher.get, site.url("/pit"))
    assert str(error) == "took longer than 2 s in total (NEWSBOT_FETCH_TOTAL_TIMEOUT_S)"
    assert took < 3 * DEADLINE_S


def test_the_deadline_covers_every_redirect_of_one_fetch(site, fetcher):
    def slow_redirect(to: str):
        def handle(sock):
            site.closing.wait(0.6)  # each under the read timeout; five of them are not under the total
            answer(b"", status="302 Found", headers={"Location": to})(sock)
        return handle

    for i in range(5):
        site.routes[f"/r{i}"] = slow_redirect(f"/r{i + 1}")
    site.routes["/r5"] = answer(a_feed("Pori"))
    error, took = timed(fetcher.get, site.url("/r0"))
    assert "NEWSBOT_FETCH_TOTAL_TIMEOUT_S" in str(error) and took < 3 * DEADLINE_S


def test_a_resolver_that_hangs_is_cut_off_at_the_deadline(monkeypatch, fetcher):
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: time.sleep(10))
    error, took = timed(fetcher.get, "http://slow-dns.example/feed")
    assert "NEWSBOT_FETCH_TOTAL_TIMEOUT_S" in str(error) and took < 3 * DEADLINE_S


@pytest.mark.slow
def test_a_feed_that_turns_into_a_tarpit_fails_within_the_deadline_and_its_articles_stay(svc, lib, site):
    # good for `feeds add` and the first poll, a tarpit from then on
    site.routes["/feed.xml"] = site.turns_into_tarpit(answer(a_feed("Lahti")), site.continue_flood(), good_for=2)
    site.routes["/other.xml"] = answer(a_feed("Kotka"))
    svc.add_feed(site.url("/feed.xml"), library=lib)
    svc.add_feed(site.url("/other.xml"), library=lib)
    assert svc.poll_feeds(library=lib).new == 4

    started = time.monotonic()
    again = svc.poll_feeds(library=lib, all_feeds=True)
    assert time.monotonic() - started < 3 * DEADLINE_S + 5  # one deadline, plus the work of the other feed
    assert again.failed == [{"url": site.url("/feed.xml"),
                             "reason": "took longer than 2 s in total (NEWSBOT_FETCH_TOTAL_TIMEOUT_S)"}]
    assert {a.title for a in svc.list_articles(libraries=(lib,))} == {
        "Lahti story 0", "Lahti story 1", "Kotka story 0", "Kotka story 1"}


# ---- headers a server should not send ----------------------------------------------------------------------------

def test_retry_after_is_capped_at_a_day_and_nonsense_is_ignored():
    assert retry_after_s("9" * 400) == MAX_RETRY_AFTER_S == 24 * 3600
    assert retry_after_s("120") == 120
    assert retry_after_s("Fri, 31 Dec 9999 23:59:59 GMT") == MAX_RETRY_AFTER_S
    assert retry_after_s("Thu, 01 Jan 1970 00:00:00 GMT") == 0
    for nonsense in ("-5", "inf", "nan", "1e400", "soon", ""):
        assert retry_after_s(nonsense) is None


@pytest.mark.slow
def test_an_absurd_retry_after_leaves_the_feed_listable_and_due_again_within_a_day(tmp_path, site):
    site.routes["/busy.xml"] = answer(b"slow down", status="429 Too Many Requests", content_type="text/plain",
                                      headers={"Retry-After": "9" * 400})
    env = {"NEWSBOT_DATA_DIR": str(tmp_path / "cli"), "NEWSBOT_ALLOW_PRIVATE_URLS": "true"}
    from rag.feeds.service import FeedService

    FeedService(make_settings(tmp_path / "cli")).store.add("default", site.url("/busy.xml"), "Busy", None, 1800,
                                                           "auto")
    before = time.time()
    assert cli_main("feeds", "poll", env=env).returncode == 1
    listed = cli_main("feeds", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["last_error"].startswith("HTTP 429")
    from datetime import datetime

    due = datetime.fromisoformat(row["next_due"].replace("Z", "+00:00")).timestamp()
    assert before + 3600 < due <= time.time() + 24 * 3600 + 60


@pytest.mark.slow
def test_a_store_that_kept_an_infinite_schedule_lists_the_feed_and_polls_it_again_within_a_day(tmp_path):
    from rag.feeds.service import FeedService

    store = FeedService(make_settings(tmp_path / "old")).store
    store.add("default", "https://news.example/feed.xml", "Old", None, 1800, "auto")
    with store.conn.transaction():  # what a newsbot before the Retry-After cap stored for a 400-digit Retry-After
        store.conn.execute("UPDATE feeds SET next_due=?", (float("inf"),))
    store.close()
    listed = cli_main("feeds", "list", "--json", env={"NEWSBOT_DATA_DIR": str(tmp_path / "old")})
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    from datetime import datetime

    assert datetime.fromisoformat(row["next_due"].replace("Z", "+00:00")).timestamp() <= time.time() + 86400 + 60


# ---- credentials -------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_url_with_a_password_is_refused_and_the_password_is_nowhere(svc, lib, site, tmp_path, caplog):
    site.routes["/feed.xml"] = answer(a_feed("Imatra"))
    secret = site.url("/feed.xml").replace("http://", "http://reader:hunter2@")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FetchError, match="user name or password is refused") as refused:
        svc.add_feed(secret, library=lib)
    [failure] = svc.ingest_url(secret, library=lib).failed
    assert failure.origin == site.url("/feed.xml").replace("http://", "http://***@")
    cli = cli_main("feeds", "add", secret, env={"NEWSBOT_DATA_DIR": str(tmp_path / "cli"),
                                               "NEWSBOT_ALLOW_PRIVATE_URLS": "true"})
    assert cli.returncode == 1 and "***@127.0.0.1" in cli.stderr
    shown = [str(refused.value), failure.reason, cli.stdout, cli.stderr, caplog.text, linked(secret),
             shown_url(secret), canonical_url(secret)]
    assert not any("hunter2" in text for text in shown)
    assert svc.list_feeds(library=lib) == [] and svc.list_articles(libraries=(lib,)) == []
    assert sum(site.hits.values()) == 0


# ---- malformed URLs ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["http://0177.0.0.1/", "http://[::1/", "http://[zz::1]/", "http://x.example:99999/",
                                 "http://x.example/\x00"])
def test_a_malformed_url_is_a_fetch_error_with_a_reason(fetcher, bad):
    error, _ = timed(fetcher.get, bad)
    assert str(error).startswith("not a valid URL: ")


@pytest.mark.slow
def test_malformed_urls_in_a_batch_are_one_failed_item_each_and_the_good_one_lands(tmp_path, site):
    site.routes["/story.html"] = answer(f"<html><head><title>Harbour works</title></head><body><article>"
                                        f"{''.join(f'<p>{p}</p>' for p in paragraphs('Kuopio'))}</article></body>"
                                        "</html>".encode(), content_type="text/html")
    env = {"NEWSBOT_DATA_DIR": str(tmp_path / "cli"), "NEWSBOT_ALLOW_PRIVATE_URLS": "true"}
    done = cli_main("ingest", "http://0177.0.0.1/", "http://[::1/", site.url("/story.html"), env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "skipped http://0177.0.0.1/: not a valid URL: Invalid IPv4 address" in done.stderr
    assert "skipped http://%5B::1/: not a valid URL: Invalid IPv6 URL" in done.stderr
    assert "added 1," in done.stderr and "failed 2" in done.stderr


def test_canonical_urls_keep_ipv6_brackets_drop_user_info_and_are_percent_encoded():
    assert canonical_url("http://[2001:DB8::1]:8080/x") == "http://[2001:db8::1]:8080/x"
    assert canonical_url("https://u:p@News.Example/a b/<c>?q=\"d\"&utm_source=x") == \
        "https://news.example/a%20b/%3Cc%3E?q=%22d%22"
    assert canonical_url("http://bücher.example/ü`x%20y%zz") == "http://xn--bcher-kva.example/%C3%BC%60x%20y%25zz"
    assert canonical_url("http://[::1/feed") == "http://%5B::1/feed"  # never fetched, but inert if stored


# ---- URLs shown in Discord ---------------------------------------------------------------------------------------

def test_a_feed_url_found_on_a_home_page_can_never_render_as_a_masked_link(svc, lib, site):
    trap = "/feed> [Verify your account](https://phish.example/login) <x"
    site.routes["/"] = answer(f'<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" '
                              f'href="{trap}"></head><body>Hi</body></html>'.encode(), content_type="text/html")
    site.routes[trap] = answer(a_feed("Rauma"))
    feed, added = svc.add_feed(site.url("/"), library=lib)
    assert added and feed.url == site.url("/feed%3E%20%5BVerify%20your%20account%5D(https://phish.example/login)"
                                          "%20%3Cx")
    line = feed_line({**feed.shown(), "next_due_ts": time.time(), "last_ok_ts": None})
    for shown in (line.split(" — ")[0].removeprefix("• "), linked(feed.url), linked(site.url(trap))):
        inside = shown.removeprefix("<").removesuffix(">")  # the brackets we put there, and nothing can close them
        assert shown == f"<{inside}>" and not set(inside) & set("<>[] ")


def test_autodiscovery_tries_at_most_three_advertised_feeds(svc, lib, site):
    links = "".join(f'<link rel="alternate" type="application/rss+xml" href="/f{i}.xml">' for i in range(8))
    site.routes["/"] = answer(f"<!DOCTYPE html><html><head>{links}</head><body>Hi</body></html>".encode(),
                              content_type="text/html")
    with pytest.raises(FeedError, match="none of the first 3 could be read") as caught:
        svc.add_feed(site.url("/"), library=lib)
    assert "HTTP 404" in str(caught.value)
    assert sum(site.hits[f"/f{i}.xml"] for i in range(8)) == 3 and svc.list_feeds(library=lib) == []
