"""Limits that keep servers apart: per-(server, user) cooldowns and answer slots shared fairly between servers."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Hashable

from discord import app_commands


class Cooldowns:
    """Rate limit shared by /ask, mentions and DMs: `rate` questions per `per` seconds per (server, user); a
    user's DMs count as a place of their own (server None)."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate, self.per = rate, per
        self._buckets: dict[tuple[int | None, int], app_commands.Cooldown] = {}

    def retry_after(self, guild_id: int | None, user_id: int) -> float | None:
        """Take one token for `user_id` in `guild_id`; the seconds to wait if none is left, else None."""
        if self.per <= 0:
            return None
        bucket = self._buckets.setdefault((guild_id, user_id), app_commands.Cooldown(self.rate, self.per))
        if len(self._buckets) > 10_000:  # forget idle users now and then
            self._buckets = {k: v for k, v in self._buckets.items() if v.get_tokens() < v.rate}
        return bucket.update_rate_limit()


class FairSlots:
    """At most `total` jobs at once. A freed slot goes to the waiting job whose key (a server; None for all DMs)
    has the fewest jobs (running, or overdue: see `Job.overrun`), the longest-waiting first among equals. So a
    server that floods the bot waits behind one that asks once, which starts as soon as any slot frees, while a
    server alone may still use every slot for questions. Long jobs (admin work that fetches: /feeds add, /ingest)
    of one key hold at most `long_share` slots, running or overdue, so one server's tarpit URLs can't take them all.
    """

    def __init__(self, total: int, long_share: int | None = None) -> None:
        self.total = total
        self.long_share = max(1, total // 2) if long_share is None else long_share
        self.running: Counter[Hashable] = Counter()  # jobs holding a slot
        self.overdue: Counter[Hashable] = Counter()  # jobs whose time is up: slot given back, thread still at work
        self.long: Counter[Hashable] = Counter()  # long jobs, running or overdue
        self._waiting: list[tuple[Hashable, bool, asyncio.Future[Job]]] = []  # in arrival order

    @contextlib.asynccontextmanager
    async def slot(self, key: Hashable, long: bool = False) -> AsyncIterator[Job]:
        job = await self.acquire(key, long)
        try:
            yield job
        finally:
            job.end()

    def waiting(self, key: Hashable | None = None) -> int:
        """Jobs queued for a slot (for `key`, or all)."""
        return sum(1 for k, _, _ in self._waiting if key is None or k == key)

    async def acquire(self, key: Hashable, long: bool = False) -> Job:
        """Wait for a slot; the Job must be ended (or overrun, then ended) by the caller."""
        granted: asyncio.Future[Job] = asyncio.get_running_loop().create_future()
        self._waiting.append((key, long, granted))
        self._hand_out()
        try:
            return await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                granted.result().end()  # the slot came as the waiter was cancelled: pass it on
            else:
                self._waiting = [w for w in self._waiting if w[2] is not granted]
            raise

    def _ended(self, job: Job, was_overdue: bool) -> None:
        _take(self.overdue if was_overdue else self.running, job.key)
        if job.long:
            _take(self.long, job.key)
        self._hand_out()

    def _overran(self, job: Job) -> None:
        _take(self.running, job.key)
        self.overdue[job.key] += 1
        self._hand_out()

    def _hand_out(self) -> None:
        while sum(self.running.values()) < self.total:
            ready = [i for i, (key, long, _) in enumerate(self._waiting)
                     if not long or self.long[key] < self.long_share]
            if not ready:
                return
            pick = min(ready, key=lambda i: (self.running[self._waiting[i][0]] + self.overdue[self._waiting[i][0]], i))
            key, long, granted = self._waiting.pop(pick)
            if granted.cancelled():
                continue
            self.running[key] += 1
            if long:
                self.long[key] += 1
            granted.set_result(Job(self, key, long))


class Job:
    """One job's hold on FairSlots: `overrun()` when its time is up (the slot goes back, the job still counts
    against its key), `end()` when its work is over. Both may be called more than once."""

    def __init__(self, slots: FairSlots, key: Hashable, long: bool) -> None:
        self.slots, self.key, self.long = slots, key, long
        self.overdue = self.ended = False

    def overrun(self) -> None:
        if not (self.overdue or self.ended):
            self.overdue = True
            self.slots._overran(self)

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self.slots._ended(self, self.overdue)


def _take(counter: Counter[Hashable], key: Hashable) -> None:
    """One less for `key`; keys at zero are dropped (`running` reads as the servers at work)."""
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
