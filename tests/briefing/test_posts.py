"""Forum posts of briefing stories: a later day's story replies in its post when the briefing's own grouping says
it is the same story, and gets a post of its own when it is another."""

from __future__ import annotations

from datetime import date

import pytest

from rag.articles.loaders import load_paths
from rag.briefing.posts import SAME_STORY_DAYS, StoryPosts

FORUM, POSTED = 77, 1_731_398_400.0  # 2024-11-12 08:00 UTC, the morning after the first report
FESTIVAL = """ date 2024-11-12 Turku harbour festival opens on Saturday

Turku harbour festival opens on Saturday

The Turku harbour festival opens on Saturday with boats, music and food stalls along the Aura river. Entry to the \
harbour festival is free, the organisers said, and the city expects forty thousand visitors over the weekend.
"""


@pytest.fixture(scope="module")
def stories(store, tmp_path_factory):
    """Day 11's story (Outlet B); day 12's report of it (Outlet A) and day 12's harbour festival (Turku Daily)."""
    folder = tmp_path_factory.mktemp("party")
    (folder / "festival.txt").write_text(FESTIVAL, encoding="utf-8")
    assert store.index.ingest(load_paths([folder], source="Turku Daily")).ok
    [first] = store.briefing(date(2024, 11, 11)).stories
    later = store.briefing(date(2024, 11, 12)).stories
    [same] = [s for s in later if "Putin" in s.headline]
    [other] = [s for s in later if "festival" in s.headline]
    return first, same, other


@pytest.fixture
def posts(store, tmp_path, stories):
    posts = StoryPosts(tmp_path, store.index)
    posts.record(1001, 5, FORUM, stories[0], now=POSTED)
    yield posts
    posts.close()


def ids(story) -> set[str]:
    return {s.article_id for s in story.sources}


def test_the_next_days_article_on_the_same_story_replies_in_its_post(posts, stories):
    first, same, _ = stories
    assert not ids(first) & ids(same), "no shared article: the grouping alone finds it"
    assert posts.find(FORUM, same, now=POSTED + 86400) == 1001


def test_a_different_story_the_next_day_opens_a_post_of_its_own(posts, stories):
    assert posts.find(FORUM, stories[2], now=POSTED + 86400) is None


def test_a_post_is_continued_only_within_the_window_and_in_its_own_forum(posts, stories):
    same = stories[1]
    assert posts.find(FORUM, same, now=POSTED + (SAME_STORY_DAYS + 1) * 86400) is None
    assert posts.find(FORUM + 1, same, now=POSTED + 86400) is None


def test_a_reply_keeps_the_post_standing_for_its_new_articles(posts, stories):
    _, same, _ = stories
    posts.record(1001, 5, FORUM, same, now=POSTED + 86400)
    assert posts.find(FORUM, same, now=POSTED + 2 * 86400) == 1001
    posts.forget(1001)
    assert posts.find(FORUM, same, now=POSTED + 2 * 86400) is None
