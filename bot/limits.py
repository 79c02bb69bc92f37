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
    runs the fewest jobs, the longest-waiting first among equals. So a server that floods the bot waits behind
    one that asks once, which starts as soon as any slot frees, while a server alone may still use every slot."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.running: Counter[Hashable] = Counter()
        self._waiting: list[tuple[Hashable, asyncio.Future[None]]] = []  # in arrival order

    @contextlib.asynccontextmanager
    async def slot(self, key: Hashable) -> AsyncIterator[None]:
        await self._acquire(key)
        try:
            yield
        finally:
            self._release(key)

    def waiting(self, key: Hashable | None = None) -> int:
        """Jobs queued for a slot (for `key`, or all)."""
        return sum(1 for k, _ in self._waiting if key is None or k == key)

    async def _acquire(self, key: Hashable) -> None:
        if not self._waiting and sum(self.running.values()) < self.total:
            self.running[key] += 1
            return
        granted = asyncio.get_running_loop().create_future()
        self._waiting.append((key, granted))
        try:
            await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                self._release(key)  # the slot came as the waiter was cancelled: pass it on
            else:
                self._waiting = [(k, f) for k, f in self._waiting if f is not granted]
            raise

    def _release(self, key: Hashable) -> None:
        self.running[key] -= 1
        if self.running[key] <= 0:
            del self.running[key]
        self._hand_out()

    def _hand_out(self) -> None:
        while self._waiting and sum(self.running.values()) < self.total:
            pick = min(range(len(self._waiting)), key=lambda i: (self.running[self._waiting[i][0]], i))
            key, granted = self._waiting.pop(pick)
            if granted.cancelled():
                continue
            self.running[key] += 1
            granted.set_result(None)
