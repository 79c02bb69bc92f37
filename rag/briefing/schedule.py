"""When the daily briefing is due: a small state machine with no Discord in it, driven by an explicit `now`.

Each server (guild) has at most one schedule: its own channel, time and time zone. The post made on local day D
covers the articles dated D-1 (a complete day). Each schedule's last posted day is kept in
the registry database (`ScheduleStore`), and each post is claimed there first, so neither a restart nor a second
bot process posts twice, and none skips a day:
- restart before today's post time: nothing is due until the time comes;
- restart after it, already posted: nothing is due;
- restart after it, not posted (the bot was down): today's post is due at once, marked late;
- days missed entirely while down are each posted once, late, oldest first (at most `MAX_CATCH_UP`).
A schedule that has never posted starts from its first post time to come, so setting it never posts at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rag.errors import ConfigError
from rag.store.db import DB_NAME
from rag.store.sql import Connection, open_room

logger = logging.getLogger(__name__)

STATE_FILE = "briefing_schedule.json"
MAX_CATCH_UP = 7  # days; older missed briefings are skipped rather than flooding the channel
LATE_AFTER = timedelta(minutes=15)  # a post this long after its time is marked late
# A claimed post not finished in this time is another process's to post: its claimant died (a briefing takes
# seconds to build and send; a claim's owner that is merely slow would have to be 10 minutes late to post twice).
CLAIM_LEASE = timedelta(minutes=10)
SCHEMA_LOCK = 0x6272_6566  # PostgreSQL advisory lock key held while creating the tables below ("bref")
# Schedules and posted days in the registry database (portable SQL: SQLite or PostgreSQL). guild_id 0 is an old
# state file's schedule whose server is not known yet; day is the local post day (ISO); times are Unix seconds.
TABLES = ("briefing_schedules", "briefing_posts")  # what `newsbot migrate` copies of this room
SCHEMA = """
CREATE TABLE IF NOT EXISTS briefing_schedules (
    guild_id BIGINT PRIMARY KEY, channel_id BIGINT NOT NULL, post_time TEXT NOT NULL, timezone TEXT NOT NULL,
    last_posted TEXT);
CREATE TABLE IF NOT EXISTS briefing_posts (
    guild_id BIGINT NOT NULL, day TEXT NOT NULL, claimed_by TEXT NOT NULL, claimed_at BIGINT NOT NULL,
    message_id BIGINT, posted_at BIGINT, PRIMARY KEY (guild_id, day))
"""


@dataclass(frozen=True)
class Schedule:
    """Where and when the daily briefing goes, and the last local day it was posted (ISO date)."""

    channel_id: int
    time: str = "08:00"
    timezone: str = "UTC"
    last_posted: str | None = None
    guild_id: int | None = None  # the server whose schedule this is; None: not known yet (an old state file)

    @property
    def zone(self) -> ZoneInfo:
        return parse_timezone(self.timezone)

    @property
    def local_time(self) -> time:
        """The post time with its zone, as `tasks.loop(time=...)` wants it."""
        return parse_time(self.time).replace(tzinfo=self.zone)


@dataclass(frozen=True)
class Due:
    """One briefing to post now: the local day it is for, the articles' day it covers, and whether it is late."""

    post_day: date
    covers: date
    late: bool


def utcnow() -> datetime:
    """The clock the bot's scheduler reads (tests replace it with a fake one)."""
    return datetime.now(UTC)


def parse_time(value: str) -> time:
    """`HH:MM` (24-hour) or raise ConfigError saying so."""
    try:
        parsed = datetime.strptime(value.strip(), "%H:%M").time()
    except (ValueError, AttributeError):
        raise ConfigError(f"time {value!r} is not HH:MM (24-hour), e.g. 08:00") from None
    return parsed


def parse_timezone(value: str) -> ZoneInfo:
    """An IANA zone (`Europe/Paris`) or raise ConfigError saying so."""
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError, AttributeError):
        raise ConfigError(f"time zone {value!r} is not an IANA name such as UTC or Europe/Paris") from None


def post_moment(schedule: Schedule, day: date) -> datetime:
    """The aware moment of day `day`'s post (a time skipped by a DST change resolves forward, per zoneinfo)."""
    return datetime.combine(day, parse_time(schedule.time), tzinfo=schedule.zone)


def latest_due_day(schedule: Schedule, now: datetime) -> date:
    """The last local day whose post time has come by `now`."""
    today = now.astimezone(schedule.zone).date()
    return today if now >= post_moment(schedule, today) else today - timedelta(days=1)


def next_post(schedule: Schedule, now: datetime) -> datetime:
    """The first post time after `now`."""
    return post_moment(schedule, latest_due_day(schedule, now) + timedelta(days=1))


def due(schedule: Schedule, now: datetime) -> list[Due]:
    """The briefings to post at `now`, oldest first; empty when nothing is due."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    last_due = latest_due_day(schedule, now)
    if schedule.last_posted is None:
        return []  # a new schedule: `start` marked the days before it as done
    first = date.fromisoformat(schedule.last_posted) + timedelta(days=1)
    if first > last_due:
        return []
    first = max(first, last_due - timedelta(days=MAX_CATCH_UP - 1))
    days = [first + timedelta(days=i) for i in range((last_due - first).days + 1)]
    return [Due(post_day=d, covers=d - timedelta(days=1), late=now - post_moment(schedule, d) > LATE_AFTER)
            for d in days]


def start(schedule: Schedule, now: datetime) -> Schedule:
    """A schedule that has never posted begins with the next post time: mark the days already due as done."""
    if schedule.last_posted is not None:
        return schedule
    return replace(schedule, last_posted=latest_due_day(schedule, now).isoformat())


def mark_posted(schedule: Schedule, post_day: date) -> Schedule:
    """Record a post (never moves backwards)."""
    if schedule.last_posted and date.fromisoformat(schedule.last_posted) >= post_day:
        return schedule
    return replace(schedule, last_posted=post_day.isoformat())


class ScheduleStore:
    """Every server's schedule, and each day's post claim, in the registry database: SQLite in the data folder, or
    PostgreSQL with NEWSBOT_DATABASE_URL, so every bot process (shard) sees the same schedules.

    A post is claimed before it is sent (`claim`): one row per (server, local day), inserted by one process only, so
    a briefing is posted once across processes and restarts. A claim whose process died before `finish` is taken
    over after `CLAIM_LEASE`. A store written before the database kept them (`briefing_schedule.json`) is imported on
    first open and the file renamed `.imported`; an old file's one schedule has no server yet (`guild_id` None, kept
    as 0), which the bot gives to the server of its channel at startup. One connection, used under a lock, so a
    store may be used from any thread."""

    def __init__(self, data_dir: Path, database_url: str | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / STATE_FILE  # a store's file from before the database kept schedules
        self.database_url = database_url
        self.conn = open_room(database_url, self.data_dir / DB_NAME, SCHEMA, SCHEMA_LOCK)
        self.lock = threading.RLock()

    def connection(self) -> Connection:
        """The store's connection, its tables made and an old state file taken in (migrate)."""
        with self._db() as conn:
            return conn

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def _db(self) -> Iterator[Connection]:
        with self.lock:
            if self.path.is_file():  # an old state file, wherever it came from, is taken in before use
                self._import(self.conn)
            yield self.conn

    def _import(self, conn: Connection) -> None:
        """The old JSON file's schedules into the tables (the database's own win), then the file set aside."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = raw["schedules"] if isinstance(raw, dict) and "schedules" in raw else [raw]
            schedules = [_schedule(entry) for entry in entries]
        except FileNotFoundError:
            return  # another process imported it meanwhile
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable %s (kept as %s.unreadable): %s", self.path, STATE_FILE, exc)
            with contextlib.suppress(OSError):
                self.path.rename(self.path.with_name(STATE_FILE + ".unreadable"))
            return
        with conn.transaction():
            for schedule in schedules:
                conn.execute(_UPSERT.replace(_ON_CONFLICT_UPDATE, "DO NOTHING"), _row(schedule))
        with contextlib.suppress(FileNotFoundError):
            self.path.rename(self.path.with_name(STATE_FILE + ".imported"))
        logger.info("imported %d briefing schedule(s) from %s into the database", len(schedules), self.path)

    def load_all(self) -> list[Schedule]:
        with self._db() as conn:
            rows = conn.execute("SELECT guild_id, channel_id, post_time, timezone, last_posted FROM "
                                "briefing_schedules ORDER BY guild_id").fetchall()
        return [Schedule(int(c), t, z, last, int(g) or None) for g, c, t, z, last in rows]

    def load(self, guild_id: int | None = None) -> Schedule | None:
        """The schedule of one server (None: the one whose server is not known yet)."""
        return next((s for s in self.load_all() if s.guild_id == guild_id), None)

    def save(self, schedule: Schedule) -> None:
        """Store `schedule` in place of its server's; the other servers' schedules are kept."""
        with self._db() as conn:
            conn.execute(_UPSERT, _row(schedule))

    def place(self, schedule: Schedule) -> bool:
        """Give an unplaced schedule (an old file's, or the one in settings) its server, unless that server has its
        own already; the old file's unplaced row goes either way. True if it was placed."""
        with self._db() as conn, conn.transaction():
            conn.execute("DELETE FROM briefing_schedules WHERE guild_id = 0 AND channel_id = ?",
                         (schedule.channel_id,))
            return conn.execute(_UPSERT.replace(_ON_CONFLICT_UPDATE, "DO NOTHING"), _row(schedule)).rowcount == 1

    def record_post(self, guild_id: int | None, post_day: date) -> None:
        """Mark `post_day` posted on the server's schedule as it is now (never moves backwards)."""
        with self._db() as conn:
            conn.execute("UPDATE briefing_schedules SET last_posted = ? WHERE guild_id = ? AND "
                         "(last_posted IS NULL OR last_posted < ?)", (post_day.isoformat(), guild_id or 0,
                                                                      post_day.isoformat()))

    def claim(self, guild_id: int, post_day: date, claimant: str, now: datetime) -> bool:
        """Claim the post of `post_day` in this server for `claimant`: True for exactly one process, unless its
        claim lapses (`CLAIM_LEASE`) before it is finished; False when posted, or claimed by another meanwhile."""
        stamp = int(now.timestamp())
        with self._db() as conn:
            return conn.execute(
                "INSERT INTO briefing_posts (guild_id, day, claimed_by, claimed_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (guild_id, day) DO UPDATE SET claimed_by = excluded.claimed_by, "
                "claimed_at = excluded.claimed_at WHERE briefing_posts.posted_at IS NULL "
                "AND briefing_posts.claimed_at <= ?",
                (guild_id, post_day.isoformat(), claimant, stamp, stamp - int(CLAIM_LEASE.total_seconds()))
            ).rowcount == 1

    def posted(self, guild_id: int, post_day: date) -> bool:
        """Whether some process has posted (finished) this server's briefing of `post_day`."""
        with self._db() as conn:
            row = conn.execute("SELECT posted_at FROM briefing_posts WHERE guild_id = ? AND day = ?",
                               (guild_id, post_day.isoformat())).fetchone()
        return bool(row and row[0] is not None)

    def finish(self, guild_id: int, post_day: date, claimant: str, message_id: int | None, now: datetime) -> None:
        """The claimed post is sent: record its first message and the schedule's last posted day."""
        with self._db() as conn:
            conn.execute("UPDATE briefing_posts SET posted_at = ?, message_id = ? WHERE guild_id = ? AND day = ? "
                         "AND claimed_by = ?", (int(now.timestamp()), message_id, guild_id, post_day.isoformat(),
                                                claimant))
        self.record_post(guild_id, post_day)

    def release(self, guild_id: int, post_day: date, claimant: str) -> None:
        """Give a claim back unposted (its first message could not be sent), so any process may retry it."""
        with self._db() as conn:
            conn.execute("DELETE FROM briefing_posts WHERE guild_id = ? AND day = ? AND claimed_by = ? AND "
                         "posted_at IS NULL", (guild_id, post_day.isoformat(), claimant))

    def clear(self) -> None:
        """Forget every schedule and post (tests that share one store between them)."""
        with self._db() as conn, conn.transaction():
            conn.execute("DELETE FROM briefing_schedules")
            conn.execute("DELETE FROM briefing_posts")


_ON_CONFLICT_UPDATE = ("DO UPDATE SET channel_id = excluded.channel_id, post_time = excluded.post_time, "
                       "timezone = excluded.timezone, last_posted = excluded.last_posted")
_UPSERT = ("INSERT INTO briefing_schedules (guild_id, channel_id, post_time, timezone, last_posted) "
           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id) " + _ON_CONFLICT_UPDATE)


def _row(schedule: Schedule) -> tuple:
    return (schedule.guild_id or 0, schedule.channel_id, schedule.time, schedule.timezone, schedule.last_posted)


def _schedule(raw: dict) -> Schedule:
    guild = raw.get("guild_id")
    return Schedule(channel_id=int(raw["channel_id"]), time=str(raw["time"]), timezone=str(raw["timezone"]),
                    last_posted=raw.get("last_posted"), guild_id=int(guild) if guild is not None else None)


def from_settings(settings) -> Schedule | None:
    """The schedule set by NEWSBOT_BRIEFING_CHANNEL_ID/_TIME/_TIMEZONE, if a channel is set (ConfigError if the
    time or zone is wrong). It serves the server of that channel unless an admin has set that server's own."""
    if not settings.briefing_channel_id:
        return None
    schedule = Schedule(settings.briefing_channel_id, settings.briefing_time, settings.briefing_timezone)
    parse_time(schedule.time), parse_timezone(schedule.timezone)  # fail early with a readable message
    return schedule


class Schedules(ScheduleStore):
    """The schedule store and the clock read against it, as front ends use them (`Services.schedules`).

    Each clock method reads this module's `utcnow` when called, so a test's fake clock (set on the module) is the
    one every caller sees."""

    def now(self) -> datetime:
        return utcnow()

    def configured(self, settings) -> Schedule | None:
        """The schedule in `settings`, if any (ConfigError if its time or zone is wrong): see `from_settings`."""
        return from_settings(settings)

    def start(self, schedule: Schedule, now: datetime) -> Schedule:
        return start(schedule, now)

    def due(self, schedule: Schedule, now: datetime) -> list[Due]:
        return due(schedule, now)

    def next_post(self, schedule: Schedule, now: datetime) -> datetime:
        return next_post(schedule, now)

    def post_moment(self, schedule: Schedule, day: date) -> datetime:
        return post_moment(schedule, day)

    def zone(self, guild_id: int | None, default: str) -> ZoneInfo:
        """The server's time zone: its schedule's, else `default` (ConfigError if the one used is wrong)."""
        schedule = self.load(guild_id) if guild_id else None
        return parse_timezone(schedule.timezone if schedule else default)
