"""Follows without Discord: their limits and messages, hits claimed exactly once, one story id per story, the dry
run's JSON, and a topic's markdown and mentions shown escaped."""

from __future__ import annotations

import json
import threading
from datetime import date

import pytest

from rag.articles.article import Article
from rag.follows.store import FollowStore
from rag.follows.topic import FollowError
from tests.conftest import make_settings
from tests.support.cli import run

LIB = "news"
BRIDGE = ("Engineers closed the Tampere harbour bridge on Tuesday after a crack was found in its main span. "
          "Traffic was sent around the harbour while inspectors examined the steel beams. ") * 4
CHOIR = "A youth choir from Oulu won the national singing contest on Saturday evening in a packed hall. " * 4


def article(title: str, body: str, source: str, slug: str) -> Article:
    return Article(title=title, body=body, source=source, published=date(2024, 11, 12),
                   url=f"https://{source.lower().replace(' ', '')}.example/{slug}")


@pytest.fixture
def svc(tmp_path):
    from rag.services import build_services

    return build_services(make_settings(tmp_path / "store", follow_max_per_member=2, follow_max_per_server=3,
                                        follow_max_topic_chars=40))


def test_each_limit_refuses_with_a_message_naming_its_setting(svc):
    svc.add_follow("harbour bridge", owner_id=1, library=LIB)
    svc.add_follow("choir contest", owner_id=1, library=LIB)
    with pytest.raises(FollowError, match="NEWSBOT_FOLLOW_MAX_PER_MEMBER"):
        svc.add_follow("ferries", owner_id=1, library=LIB)
    svc.add_follow("ferries", owner_id=2, library=LIB)
    with pytest.raises(FollowError, match="NEWSBOT_FOLLOW_MAX_PER_SERVER"):
        svc.add_follow("steel", owner_id=3, library=LIB)
    with pytest.raises(FollowError, match="NEWSBOT_FOLLOW_MAX_TOPIC_CHARS"):
        svc.add_follow("a topic much longer than forty characters in all", owner_id=4, library="other")
    with pytest.raises(FollowError, match="empty"):
        svc.add_follow("   ", owner_id=4, library="other")
    assert [f.topic for f in svc.list_follows(library=LIB, owner_id=1)] == ["harbour bridge", "choir contest"]
    assert svc.remove_follow(1, library=LIB, owner_id=2) is False  # not theirs
    assert svc.remove_follow(1, library=LIB, owner_id=1) is True


def test_a_matching_article_is_claimed_by_exactly_one_of_two_callers_and_a_second_outlet_joins_its_story(svc):
    follow = svc.add_follow("Tampere harbour bridge", owner_id=1, channel_id=9, library=LIB)
    svc.ingest([article("Tampere harbour bridge closed after crack", BRIDGE, "Tampere Courier", "a"),
                article("Oulu choir wins contest", CHOIR, "Tampere Courier", "b")], LIB)
    svc.ingest([article("Tampere harbour bridge closed after crack", BRIDGE, "Tampere Courier", "a")], LIB)
    claimed: list = []
    start = threading.Barrier(2)

    def take():
        start.wait()
        claimed.extend(svc.pending_alerts(10))

    threads = [threading.Thread(target=take) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.article.title for a in claimed] == ["Tampere harbour bridge closed after crack"]
    first = claimed[0]
    assert first.article.quote in BRIDGE and "harbour bridge" in first.article.quote and not first.is_update
    svc.alert_sent(first, 9, 1234, ["Tampere Courier"])

    svc.ingest([article("Crack shuts Tampere harbour bridge", BRIDGE.replace("Tuesday", "Tuesday morning"),
                        "Harbour Herald", "c")], LIB)
    update = svc.pending_alerts(10)
    assert len(update) == 1 and update[0].is_update and update[0].story_id == first.article.article_id
    assert update[0].alert.message_id == 1234 and update[0].alert.outlets == ("Tampere Courier",)
    assert update[0].first.title == "Tampere harbour bridge closed after crack"
    assert svc.pending_alerts(10) == []  # nothing left, and nothing is handed out twice
    states = FollowStore(svc.settings.data_dir).states(follow.id)
    assert sorted(states.values()) == ["claimed", "sent"]  # the update waits, claimed, for the bot to send it


def test_the_dry_run_prints_each_topics_stored_articles_as_json_and_sends_nothing(tmp_path):
    store = tmp_path / "store"
    from rag.services import build_services

    svc = build_services(make_settings(store))
    svc.ingest([article("Tampere harbour bridge closed after crack", BRIDGE, "Tampere Courier", "a"),
                article("Oulu choir wins contest", CHOIR, "Tampere Courier", "b")])
    run("follows", "add", "Tampere harbour bridge", "--channel", "42", env_dir=store)
    run("follows", "add", '"youth choir" -bridge', env_dir=store)
    assert run("follows", "add", "--", "-only", env_dir=store, check_code=2).stderr.count("exclusions") == 1
    printed = json.loads(run("follows", "check", "--since", "2024-11-01", "--until", "2024-11-30", "--json",
                             env_dir=store).stdout)
    assert [(t["topic"], [a["title"] for a in t["articles"]]) for t in printed] == [
        ("Tampere harbour bridge", ["Tampere harbour bridge closed after crack"]),
        ('"youth choir" -bridge', ["Oulu choir wins contest"])]
    assert set(printed[0]["articles"][0]) == {"article_id", "title", "source", "published", "url"}
    assert FollowStore(store).claim_pending(10) == []  # the dry run recorded no hit
    listed = json.loads(run("follows", "list", "--json", env_dir=store).stdout)
    assert [f["channel_id"] for f in listed] == [42, None]
    run("follows", "remove", "7", env_dir=store, check_code=1)
    run("follows", "remove", "1", env_dir=store)


def test_a_topic_with_markdown_and_mentions_is_shown_escaped_in_an_alert():
    from bot.cogs.follows import alert_text
    from rag.follows.service import AlertArticle

    shown = alert_text("@everyone **bridge** [click](https://evil.example) <@123456789012345678>",
                       AlertArticle("a", "Bridge *closed*", "Courier", "2024-11-12", "https://courier.example/a",
                                    "The bridge closed."), tuple(f"Outlet {i}" for i in range(400)))
    assert len(shown) <= 2000 and "@everyone" not in shown and "<@123456789012345678>" not in shown
    assert "**bridge**" not in shown and "](https://evil" not in shown and "Bridge \\*closed\\*" in shown
    assert "Also reported by: Outlet 0" in shown and "more" in shown.splitlines()[-1]
