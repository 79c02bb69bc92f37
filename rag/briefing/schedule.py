"""When the daily briefing is due: a small state machine with no Discord in it, driven by an explicit `now`.

Each server (guild) has at most one schedule: its own channel, time and time zone. The post made on local day D
covers the articles dated D-1 (a complete day). Each schedule's last posted day is kept in
`<data_dir>/briefing_schedule.json`, written atomically, so a restart neither posts twice nor skips a day:
- restart before today's post time: nothing is due until the time comes;
- restart after it, already posted: nothing is due;
- restart after it, not posted (the bot was down): today's post is due at once, marked late;
- days missed entirely while down are each posted once, late, oldest first (at most `MAX_CATCH_UP`).
A schedule that has never posted starts from its first post time to come, so setting it never posts at once.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rag.errors import ConfigError
from rag.store.private import private_folder

logger = logging.getLogger(__name__)

STATE_FILE = "briefing_schedule.json"
MAX_CATCH_UP = 7  # days; older missed briefings are skipped rather than flooding the channel
LATE_AFTER = timedelta(minutes=15)  # a post this long after its time is marked late


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
    """Every server's schedule in `<data_dir>/briefing_schedule.json`; each save replaces the file atomically.

    The file is `{"schedules": [{"guild_id", "channel_id", "time", "timezone", "last_posted"}, ...]}`. A file
    written before schedules were per server holds one schedule's fields at the top level: it loads as one
    schedule with `guild_id` None, which the bot gives to the server of its channel at startup."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / STATE_FILE

    def load_all(self) -> list[Schedule]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            entries = raw["schedules"] if isinstance(raw, dict) and "schedules" in raw else [raw]
            return [_schedule(entry) for entry in entries]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("ignoring unreadable %s: %s", self.path, exc)
            return []

    def load(self, guild_id: int | None = None) -> Schedule | None:
        """The schedule of one server (None: the one whose server is not known yet)."""
        return next((s for s in self.load_all() if s.guild_id == guild_id), None)

    def save(self, schedule: Schedule) -> None:
        """Store `schedule` in place of its server's; the other servers' schedules are kept."""
        others = [s for s in self.load_all() if s.guild_id != schedule.guild_id]
        self.save_all([*others, schedule])

    def record_post(self, guild_id: int | None, post_day: date) -> None:
        """Mark `post_day` posted on the server's schedule as it is now (an admin may have changed it meanwhile)."""
        current = self.load(guild_id)
        if current is not None:
            self.save(mark_posted(current, post_day))

    def save_all(self, schedules: list[Schedule]) -> None:
        private_folder(self.path.parent)
        fd, tmp = tempfile.mkstemp(prefix=".schedule-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"schedules": [asdict(s) for s in schedules]}, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


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
