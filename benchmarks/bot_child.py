"""The bot under test, in its own process: `python benchmarks/bot_child.py API_BASE GATEWAY_URL TOKEN`.

It opens the store named by NEWSBOT_DATA_DIR exactly as `newsbot bot` does (create_bot without services), points
discord.py at the Discord double, and runs a probe task that sleeps 10 ms in a loop and records how late it wakes
up (the event-loop lag). It reads commands on stdin, one a line, and answers each with one JSON line on stdout:
`lag` (the lag since the last `reset`), `reset`, `stop`. With BENCH_TRACE_CALLBACKS=1 (`run.py
--trace-callbacks`) `lag` also names the slowest event-loop callbacks and the loop thread's CPU time in them.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord.gateway  # noqa: E402
import discord.http  # noqa: E402
import yarl  # noqa: E402

from bot.app import create_bot  # noqa: E402

PROBE_S = 0.010


class CallbackTrace:
    """With BENCH_TRACE_CALLBACKS=1: every event-loop callback timed, wall and the loop thread's CPU, keeping the
    slowest of each. CPU time is work done on the loop; wall minus CPU is the loop thread waiting (for the GIL,
    held by the threads answering questions, or for a core)."""

    def __init__(self, keep: int = 5) -> None:
        self.keep = keep
        self.reset()
        original = asyncio.events.Handle._run
        trace = self

        def timed_run(handle) -> None:
            where = resumes_at(handle)
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                original(handle)
            finally:
                trace.record(time.perf_counter() - wall, time.thread_time() - cpu, where)

        asyncio.events.Handle._run = timed_run

    def reset(self) -> None:
        self.by_wall: list[tuple[float, float, str]] = []
        self.by_cpu: list[tuple[float, float, str]] = []
        self.cpu_total = self.wall_total = 0.0
        self.count = 0

    def record(self, wall: float, cpu: float, where: str) -> None:
        self.cpu_total += cpu
        self.wall_total += wall
        self.count += 1
        for top, key in ((self.by_wall, 0), (self.by_cpu, 1)):
            if len(top) < self.keep or (wall, cpu)[key] > top[-1][key]:
                top.append((wall, cpu, where))
                top.sort(key=lambda x: -x[key])
                del top[self.keep:]

    def report(self) -> dict:
        def rows(top):
            return [{"wall_ms": round(w * 1000, 1), "cpu_ms": round(c * 1000, 1), "callback": r} for w, c, r in top]

        return {"callbacks": self.count, "cpu_s": round(self.cpu_total, 3), "wall_s": round(self.wall_total, 3),
                "slowest_wall": rows(self.by_wall), "slowest_cpu": rows(self.by_cpu)}


def resumes_at(handle) -> str:
    """Where a callback's code is: for a task's step, the innermost coroutine it resumes (qualname:line)."""
    task = getattr(handle._callback, "__self__", None)
    if not isinstance(task, asyncio.Task):
        return repr(handle)[:200]
    coro, seen = task.get_coro(), 0
    while getattr(coro, "cr_await", None) is not None and hasattr(coro.cr_await, "cr_frame") and seen < 50:
        coro, seen = coro.cr_await, seen + 1
    frame = getattr(coro, "cr_frame", None)
    return f"{getattr(coro, '__qualname__', coro)}:{frame.f_lineno if frame else '?'}"


class LagProbe:
    """Overshoot of a 10 ms sleep, i.e. how long the loop was busy when it should have woken the probe."""

    def __init__(self) -> None:
        self.samples: list[float] = []

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(PROBE_S)
            self.samples.append(time.perf_counter() - start - PROBE_S)

    def report(self) -> dict:
        ordered = sorted(self.samples) or [0.0]
        return {"samples": len(self.samples), "max_ms": ordered[-1] * 1000,
                "p99_ms": ordered[int(0.99 * (len(ordered) - 1))] * 1000}


async def commands(bot, probe: LagProbe, trace: CallbackTrace | None) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "reset":
            probe.samples = []
            if trace:
                trace.reset()
            print(json.dumps({"ok": True}), flush=True)
        elif line == "lag":
            print(json.dumps({**probe.report(), **({"trace": trace.report()} if trace else {})}), flush=True)
        elif line == "stop":
            break


async def main(api_base: str, gateway: str, token: str) -> None:
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    trace = CallbackTrace() if os.environ.get("BENCH_TRACE_CALLBACKS") == "1" else None
    bot = create_bot(guild_ready_timeout=0.05)
    probe = LagProbe()
    probe_task = asyncio.create_task(probe.run())
    async with bot:
        await bot.login(token)
        runner = asyncio.create_task(bot.connect(reconnect=False))
        await bot.wait_until_ready()
        print(json.dumps({"ready": True, "concurrency": bot.settings.ask_concurrency,
                          "cooldown": [bot.settings.ask_cooldown_rate, bot.settings.ask_cooldown_s]}), flush=True)
        await commands(bot, probe, trace)
        probe_task.cancel()
        await bot.close()
        runner.cancel()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
