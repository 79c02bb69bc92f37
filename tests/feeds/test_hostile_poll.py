"""Issue #25, the poll pass: a feed that never answers can't stall it, a dead or hung child is replaced, the quotas
hold and a server off the allow-list is not polled; against a hostile site of our own on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from rag.errors import LibraryError
from rag.feeds.service import FeedQuotaError
from tests.conftest import SEEDS, make_settings
from tests.doubles.feeds_site import LAST_MODIFIED, Page, atom, paragraphs, rss
from tests.support.feeds import continue_forever, teaser_site

DEADLINE_S = 3.0


@pytest.fixture(scope="module")
def svc(tmp_path_factory):
    from rag.services import build_services

    return build_services(make_settings(tmp_path_factory.mktemp("hostile"), allow_private_urls=True,
                                        fetch_read_timeout_s=0.5, fetch_total_timeout_s=1,
                                        feed_deadline_s=DEADLINE_S, feed_max_new_per_poll=2, feed_max_per_library=3))


def full_feed(title: str, n: int) -> bytes:
    """An Atom feed of `n` entries with their whole text (no page to fetch)."""
    return atom(title, [{"id": f"urn:{title}:{i}", "title": f"{title} story {i}", "link": f"https://example.org/{i}",
                         "content": " ".join(paragraphs(f"{title}{i}", 3))} for i in range(n)])


def titles(svc, lib) -> set[str]:
    return {a.title for a in svc.list_articles(libraries=(lib,))}


@pytest.mark.slow
def test_a_tarpit_feed_fails_at_its_deadline_while_the_other_feeds_land(svc, lib, site, monkeypatch):
    # the feed's own deadline must end the pass even when a fetch never would (tests/feeds/test_hostile_fetch.py
    # holds the fetch's deadline): here the fetch's is far past the feed's
    monkeypatch.setattr(svc.feeds.fetcher, "total_timeout_s", 600.0)
    site.routes["/tarpit.xml"] = continue_forever(site)
    site.routes["/oulu.xml"] = Page(full_feed("Oulu", 2), "application/atom+xml")
    teaser_site(site, "/pori.xml", n=2, town="Pori")
    for path in ("/tarpit.xml", "/oulu.xml", "/pori.xml"):
        svc.feeds.store.add(lib, site.url(path), None, None, 1800, "auto")
    started = time.monotonic()
    result = svc.poll_feeds(library=lib)
    took = time.monotonic() - started
    assert took < 3 * DEADLINE_S, took  # the tarpit answers forever; the pass ends about one deadline later
    assert [f["url"] for f in result.failed] == [site.url("/tarpit.xml")]
    assert "NEWSBOT_FEED_DEADLINE_S" in result.failed[0]["reason"]
    assert titles(svc, lib) == {"Oulu story 0", "Oulu story 1", "Pori budget review 0 & more",
                                "Pori budget review 1 & more"}
    tarpit = svc.feeds.store.get(lib, site.url("/tarpit.xml"))
    assert tarpit is not None and tarpit.failures == 1 and tarpit.next_due > time.time() + 1000  # kept, backs off


@pytest.mark.slow
def test_a_feed_answering_after_its_deadline_has_its_late_answer_dropped_not_stored(tmp_path, site):
    from rag.services import build_services

    # a fetch may take 10 s, the feed only 1 s: its thread gets the feed after the pass gave up on it
    services = build_services(make_settings(tmp_path / "s", allow_private_urls=True, fetch_read_timeout_s=5,
                                            fetch_total_timeout_s=10, feed_deadline_s=1))
    answered = []

    def late(request) -> None:
        site.release.wait(2.5)
        request._send(Page(full_feed("Late", 2), "application/atom+xml"))
        answered.append(time.monotonic())

    site.routes["/late.xml"] = late
    services.feeds.store.add("late", site.url("/late.xml"), None, None, 1800, "auto")
    result = services.poll_feeds(library="late")
    assert "NEWSBOT_FEED_DEADLINE_S" in result.failed[0]["reason"] and not answered
    deadline = time.monotonic() + 10
    while not answered and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # the abandoned thread has its answer by now and parses it
    assert answered and titles(services, "late") == set()
    assert services.feeds.store.get("late", site.url("/late.xml")).entries == 0  # nothing marked seen either


@pytest.mark.slow
def test_teasers_whose_pages_would_pass_the_deadline_are_left_for_the_next_poll_not_stored_short(svc, lib, site,
                                                                                                 monkeypatch):
    monkeypatch.setattr(svc.settings, "feed_max_new_per_poll", 50)
    pages = teaser_site(site, "/slow-pages.xml", n=8, town="Kemi")
    for page in pages:
        def slow(request, body=site.routes[page]) -> None:
            site.release.wait(0.4)  # 8 pages, one at a time: 3.2 s, past the 3 s deadline
            request._send(body)

        site.routes[page] = slow
    svc.feeds.store.add(lib, site.url("/slow-pages.xml"), None, None, 1800, "auto")
    started = time.monotonic()
    result = svc.poll_feeds(library=lib)
    assert time.monotonic() - started < 3 * DEADLINE_S
    assert result.failed == [] and 1 <= result.new == result.pages_fetched < 8
    left = 8 - result.new
    assert any(f"{left} entries left for the next poll" in w and "NEWSBOT_FEED_DEADLINE_S" in w
               for w in result.warnings), result.warnings
    again = svc.poll_feeds(library=lib, all_feeds=True)  # the next poll brings the rest, each with its page
    assert again.failed == [] and again.new >= 1 and again.pages_fetched == again.new
    assert len(titles(svc, lib)) == result.new + again.new


def test_new_articles_per_feed_per_poll_are_capped_and_the_rest_come_with_the_next_polls(svc, lib, site):
    site.routes["/many.xml"] = Page(full_feed("Many", 5), "application/atom+xml", etag='"many-v1"',
                                    last_modified=LAST_MODIFIED)  # validators must not hide the rest (no 304)
    svc.feeds.store.add(lib, site.url("/many.xml"), None, None, 1800, "auto")
    first = svc.poll_feeds(library=lib)
    assert first.new == 2 and any("took 2 of 5" in w and "NEWSBOT_FEED_MAX_NEW_PER_POLL" in w
                                  for w in first.warnings), first.warnings
    assert svc.poll_feeds(library=lib, all_feeds=True).new == 2
    last = svc.poll_feeds(library=lib, all_feeds=True)
    assert last.new == 1 and not any("NEWSBOT_FEED_MAX_NEW_PER_POLL" in w for w in last.warnings)
    assert titles(svc, lib) == {f"Many story {i}" for i in range(5)}


def test_a_library_at_its_feed_quota_refuses_another_without_fetching_it(svc, lib, site):
    for i in range(3):
        site.routes[f"/q{i}.xml"] = Page(rss(f"Q{i}", []))
        svc.add_feed(site.url(f"/q{i}.xml"), library=lib)
    site.routes["/q3.xml"] = Page(rss("Q3", []))
    with pytest.raises(FeedQuotaError, match="already polls 3 feeds.*NEWSBOT_FEED_MAX_PER_LIBRARY"):
        svc.add_feed(site.url("/q3.xml"), library=lib)
    assert site.hits["/q3.xml"] == 0 and len(svc.list_feeds(library=lib)) == 3
    assert svc.add_feed(site.url("/q0.xml"), library=lib)[1] is False  # one it has is still "already there"


def test_an_opml_import_adds_up_to_the_quota_and_says_how_many_were_not_added(svc, lib):
    opml = "".join(f'<outline xmlUrl="https://example.org/o{i}.xml"/>' for i in range(5))
    content = f"<opml><body>{opml}</body></opml>".encode()
    assert svc.feeds.import_opml(content, lib) == (3, 0, 2)
    with pytest.raises(FeedQuotaError, match="NEWSBOT_FEED_MAX_PER_LIBRARY"):
        svc.feeds.import_opml(content.replace(b".org/o", b".org/other"), lib)
    assert len(svc.list_feeds(library=lib)) == 3


def test_the_bots_pass_skips_servers_off_the_allow_list_and_keeps_their_feeds(tmp_path, site):
    from rag.services import build_services

    services = build_services(make_settings(tmp_path / "s", allow_private_urls=True, allowed_guilds="1"))
    site.routes["/g.xml"] = Page(full_feed("Guild", 1), "application/atom+xml")
    site.routes["/d.xml"] = Page(full_feed("Shared", 1), "application/atom+xml")
    for library, path in (("guild-1", "/g.xml"), ("guild-2", "/g.xml"), ("default", "/d.xml")):
        services.feeds.store.add(library, site.url(path), None, None, 1800, "auto")
    due = services.feeds.store.get("guild-2", site.url("/g.xml")).next_due
    result = services.poll_feeds(every_library=True)
    assert result.feeds == 2 and result.failed == [] and site.hits["/g.xml"] == 1
    assert titles(services, "guild-1") == {"Guild story 0"} and titles(services, "guild-2") == set()
    kept = services.feeds.store.get("guild-2", site.url("/g.xml"))
    assert kept is not None and kept.next_due == due  # untouched: polled again once the server is allowed


def test_a_bot_write_with_no_library_named_raises_and_writes_nothing(services):
    from rag.articles.loaders import load_paths

    services.library_required = True  # as the bot sets it
    with pytest.raises(LibraryError, match="no library named"):
        services.ingest(load_paths([SEEDS]))
    with pytest.raises(LibraryError, match="no library named"):
        services.add_feed("https://example.org/feed.xml")
    assert services.list_articles() == [] and services.list_feeds(library="default") == []
    services.library_required = False  # the CLI: None is the configured library
    assert len(services.ingest(load_paths([SEEDS])).added) == 2


# ---- the child process ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_killed_polling_child_is_replaced_and_logged_and_the_next_poll_works(tmp_path, site, caplog):
    from rag.services import build_services

    site.routes["/c.xml"] = Page(full_feed("Child", 3), "application/atom+xml")
    services = build_services(make_settings(tmp_path / "s", allow_private_urls=True))
    services.feeds.store.add("guild-1", site.url("/c.xml"), None, None, 1800, "auto")
    try:
        assert services.poll_feeds(every_library=True, in_child=True).new == 3
        (pid,) = services._feed_child.pids()
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        site.routes["/c.xml"] = Page(full_feed("Child", 4), "application/atom+xml")
        with caplog.at_level(logging.WARNING, logger="rag.feeds.child"):
            again = services.poll_feeds(all_feeds=True, every_library=True, in_child=True)
        assert again.new == 1 and again.failed == []
        assert "child process died" in caplog.text and services._feed_child.pids() != [pid]
    finally:
        services.close_feeds(wait=True)
    assert len(titles(services, "guild-1")) == 4


@pytest.mark.slow
def test_a_hung_child_pass_is_cut_at_its_bound_and_the_next_pass_works(tmp_path, site):
    from rag.feeds.child import ChildPoller, PollHung
    from rag.services import build_services

    settings = make_settings(tmp_path / "s", allow_private_urls=True, feed_deadline_s=600)
    from rag.feeds.registry import FeedStore

    store = FeedStore(settings.data_dir)
    site.routes["/tarpit.xml"] = continue_forever(site)
    store.add("guild-1", site.url("/tarpit.xml"), None, None, 1800, "auto")
    child = ChildPoller(settings, build_services, hang_s=20)
    try:
        started = time.monotonic()
        with pytest.raises(PollHung, match="ran past 20 s"):
            child.poll()
        assert time.monotonic() - started < 40
        store.remove("guild-1", site.url("/tarpit.xml"))
        site.routes["/ok.xml"] = Page(full_feed("After", 1), "application/atom+xml")
        store.add("guild-1", site.url("/ok.xml"), None, None, 1800, "auto")
        assert child.poll().new == 1
    finally:
        child.close(wait=True)
