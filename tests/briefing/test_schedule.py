"""The daily post's schedule on a fake clock: exactly one post a day across restarts, late catch-up, no flood."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rag.errors import ConfigError
from rag.briefing.schedule import Schedule, ScheduleStore, due, mark_posted, start

PARIS = ZoneInfo("Europe/Paris")


class Bot:
    """The posting half of the cog, minus Discord: what a run of the bot would post at each moment."""

    def __init__(self, store: ScheduleStore) -> None:
        self.store = store
        self.posts: list[tuple[date, date, bool]] = []

    def tick(self, now: datetime) -> None:
        schedule = self.store.load()
        for item in due(schedule, now):
            self.posts.append((item.post_day, item.covers, item.late))
            schedule = mark_posted(schedule, item.post_day)
            self.store.save(schedule)

    def restart(self, now: datetime) -> None:
        """A fresh process: state only from disk, then the startup catch-up."""
        self.store = ScheduleStore(self.store.path.parent)
        self.tick(now)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=PARIS)


@pytest.fixture
def bot(tmp_path) -> Bot:
    store = ScheduleStore(tmp_path)
    store.save(start(Schedule(channel_id=1, time="08:00", timezone="Europe/Paris"), at(10, 12)))
    return Bot(store)


def test_a_new_schedule_waits_for_its_first_time_then_posts_yesterdays_news(bot):
    bot.tick(at(10, 12, 1))
    bot.tick(at(11, 7, 59))
    assert bot.posts == []
    bot.tick(at(11, 8, 0))
    assert bot.posts == [(date(2025, 3, 11), date(2025, 3, 10), False)]


@pytest.mark.parametrize("restart_at", [at(11, 7, 30), at(11, 8, 30), at(11, 23, 59)])
def test_a_restart_before_or_after_the_post_time_still_gives_one_post_that_day(bot, restart_at):
    if restart_at.hour >= 8:
        bot.tick(at(11, 8, 0))  # posted on time, then restarted later that day
    bot.restart(restart_at)
    for minute in range(0, 24 * 60, 30):  # the loop (and any spurious wake-ups) all day long
        moment = at(11, 0) + timedelta(minutes=minute)
        if moment >= restart_at:
            bot.tick(moment)
    assert [p[0] for p in bot.posts] == [date(2025, 3, 11)]
    assert bot.posts[0][2] is False


def test_a_day_missed_while_down_posts_once_at_startup_marked_late(bot):
    bot.tick(at(11, 8, 0))
    bot.restart(at(12, 10, 0))  # down over the 12th's post time
    bot.restart(at(12, 10, 5))  # and a second restart does not repeat it
    bot.tick(at(13, 8, 0))
    assert bot.posts == [(date(2025, 3, 11), date(2025, 3, 10), False),
                         (date(2025, 3, 12), date(2025, 3, 11), True),
                         (date(2025, 3, 13), date(2025, 3, 12), False)]


def test_several_missed_days_post_each_once_oldest_first_and_a_long_outage_does_not_flood(bot):
    bot.restart(at(14, 9, 0))
    assert [(p[0].day, p[2]) for p in bot.posts] == [(11, True), (12, True), (13, True), (14, True)]
    bot.restart(at(30, 9, 0))
    assert len(bot.posts) == 4 + 7 and bot.posts[-1][0] == date(2025, 3, 30)


def test_the_post_follows_local_time_across_a_dst_change(bot):
    bot.tick(at(29, 8, 0))  # catch up to the 29th
    bot.posts.clear()
    bot.tick(datetime(2025, 3, 30, 6, 59, tzinfo=ZoneInfo("UTC")))  # 08:59 CEST: the clock sprang forward
    assert [p[0] for p in bot.posts] == [date(2025, 3, 30)]


def test_a_schedule_is_kept_in_the_registry_database_and_survives_a_new_process(tmp_path):
    store = ScheduleStore(tmp_path)
    store.save(Schedule(channel_id=42, time="19:30", timezone="America/New_York", last_posted="2025-03-01",
                        guild_id=7))
    assert ScheduleStore(tmp_path).load(7) == Schedule(42, "19:30", "America/New_York", "2025-03-01", 7)
    assert {p.name for p in tmp_path.iterdir()} <= {"newsbot.sqlite3", "newsbot.sqlite3-wal", "newsbot.sqlite3-shm"}


def test_each_server_keeps_its_own_schedule_and_a_save_leaves_the_others_alone(tmp_path):
    store = ScheduleStore(tmp_path)
    a, b = Schedule(1, "08:00", "UTC", "2025-03-01", guild_id=10), Schedule(2, "18:30", "Asia/Tokyo", None, 20)
    store.save(a)
    store.save(b)
    store.save(replace(b, time="07:15"))  # B's admin changes B's time
    store.record_post(10, date(2025, 3, 2))  # A posts
    assert ScheduleStore(tmp_path).load(10) == replace(a, last_posted="2025-03-02")
    assert ScheduleStore(tmp_path).load(20) == replace(b, time="07:15")
    assert len(store.load_all()) == 2


def test_a_state_file_from_before_per_server_schedules_loads_as_one_schedule_without_a_server(tmp_path):
    (tmp_path / "briefing_schedule.json").write_text(json.dumps(
        {"channel_id": 42, "time": "08:00", "timezone": "UTC", "last_posted": "2025-03-01"}))  # as main wrote it
    assert ScheduleStore(tmp_path).load_all() == [Schedule(42, "08:00", "UTC", "2025-03-01", guild_id=None)]


def test_a_state_file_of_todays_main_is_imported_once_and_kept_aside_with_its_posted_days(tmp_path):
    old = {"schedules": [{"guild_id": 7, "channel_id": 42, "time": "19:30", "timezone": "Asia/Tokyo",
                          "last_posted": "2025-03-01"}, {"guild_id": 8, "channel_id": 43, "time": "08:00",
                                                         "timezone": "UTC", "last_posted": None}]}
    (tmp_path / "briefing_schedule.json").write_text(json.dumps(old))
    store = ScheduleStore(tmp_path)
    assert store.load_all() == [Schedule(42, "19:30", "Asia/Tokyo", "2025-03-01", 7), Schedule(43, "08:00", "UTC",
                                                                                                None, 8)]
    assert json.loads((tmp_path / "briefing_schedule.json.imported").read_text()) == old
    assert not (tmp_path / "briefing_schedule.json").exists()
    store.record_post(7, date(2025, 3, 2))
    assert ScheduleStore(tmp_path).load(7).last_posted == "2025-03-02"  # not imported again over the database


def test_a_corrupt_state_file_is_ignored_not_fatal_and_kept_aside(tmp_path):
    (tmp_path / "briefing_schedule.json").write_text("{not json")
    assert ScheduleStore(tmp_path).load() is None
    assert (tmp_path / "briefing_schedule.json.unreadable").read_text() == "{not json"


def test_a_post_is_claimed_once_and_a_lapsed_claim_is_taken_over_but_a_posted_one_never(tmp_path):
    a, b, now = ScheduleStore(tmp_path), ScheduleStore(tmp_path), at(11, 8, 0)
    day = date(2025, 3, 11)
    assert a.claim(7, day, "bot-a", now) is True
    assert b.claim(7, day, "bot-b", now + timedelta(minutes=9)) is False  # bot-a may still be posting
    assert b.claim(7, day, "bot-b", now + timedelta(minutes=10)) is True  # bot-a died: its claim lapsed
    b.finish(7, day, "bot-b", 555, now + timedelta(minutes=10))
    assert a.posted(7, day) and a.claim(7, day, "bot-a", now + timedelta(days=1)) is False
    assert a.claim(8, day, "bot-a", now) is True  # another server's post is a claim of its own


def test_a_claim_given_back_after_a_failed_send_can_be_taken_at_once(tmp_path):
    store, day = ScheduleStore(tmp_path), date(2025, 3, 11)
    assert store.claim(7, day, "bot-a", at(11, 8, 0))
    store.release(7, day, "bot-a")
    assert not store.posted(7, day) and store.claim(7, day, "bot-b", at(11, 8, 1))


@pytest.mark.parametrize("time,zone", [("8am", "UTC"), ("25:00", "UTC"), ("08:00", "Mars/Olympus")])
def test_a_bad_time_or_zone_says_what_is_wrong(time, zone):
    with pytest.raises(ConfigError, match="HH:MM|IANA"):
        Schedule(1, time, zone).local_time


def test_now_must_be_aware():
    with pytest.raises(ValueError):
        due(Schedule(1, last_posted="2025-01-01"), datetime(2025, 1, 2, 9))
