"""The follows store (rag/follows/store.py) keeps the same follows, hits and story alerts on SQLite and on a real
PostgreSQL, Discord's 64-bit ids intact, and each pending hit goes to one sender only."""

from __future__ import annotations

import pytest

from rag.follows.store import FollowStore

pytestmark = pytest.mark.slow  # the PostgreSQL half starts a server

MEMBER, CHANNEL, GUILD = 1_234_567_890_123_456_789, 987_654_321_098_765_432, 876_543_210_987_654_321


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    (tmp_path / "store").mkdir()
    return tmp_path / "store", url


def test_follows_hits_and_story_alerts_round_trip_alike_on_both_databases_with_discord_sized_ids(database):
    store = FollowStore(*database)
    first = store.add("news", "harbour bridge", MEMBER, CHANNEL, GUILD)
    second = store.add("news", "choir", 2, None, GUILD)
    assert second.id > first.id and store.get("news", first.id) == first
    assert store.counts("news", MEMBER) == (1, 2)
    assert [f.topic for f in store.list("news", owner_id=MEMBER)] == ["harbour bridge"]

    assert store.record_hits([(first.id, "art1", "story1", 0.9), (first.id, "art2", "story1", 0.8)]) == 2
    assert store.record_hits([(first.id, "art1", "story1", 0.9)]) == 0  # already recorded: left as it is
    assert store.hit_exists(first.id, "art1") and not store.hit_exists(second.id, "art1")
    one, _ = store.claim_pending(10)
    assert (one.follow.owner_id, one.follow.channel_id, one.article_id) == (MEMBER, CHANNEL, "art1")
    store.mark_sent(first.id, "art1", CHANNEL, 2**62 + 5, "story1", ["Outlet A"])
    store.mark_sent(first.id, "art2", CHANNEL, 2**62 + 5, "story1", ["Outlet A", "Outlet B"])
    alert = store.story_alert(first.id, "story1", 0)
    assert (alert.message_id, alert.outlets) == (2**62 + 5, ("Outlet A", "Outlet B"))
    assert store.states(first.id) == {"art1": "sent", "art2": "sent"}

    assert store.drop_follows_of([2], GUILD) == 1  # the member's DM follow
    assert store.remove("news", first.id, owner_id=MEMBER) and store.list("news") == []
    assert store.states(first.id) == {}
    store.close()


def test_two_senders_on_one_database_never_take_the_same_pending_hit(database):
    one, two = FollowStore(*database), FollowStore(*database)
    follow = one.add("news", "harbour", MEMBER, CHANNEL, GUILD)
    one.record_hits([(follow.id, f"art{i}", f"story{i}", 0.5) for i in range(6)])
    taken = one.claim_pending(4) + two.claim_pending(4) + two.claim_pending(4)
    assert sorted(h.article_id for h in taken) == [f"art{i}" for i in range(6)]
    one.close()
    two.close()
