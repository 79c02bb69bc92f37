"""The bot under test, in its own process: `python benchmarks/bot_child.py API_BASE GATEWAY_URL TOKEN`.

It opens the store named by NEWSBOT_DATA_DIR exactly as `newsbot bot` does (create_bot without services), points
discord.py at the Discord double, and runs a probe task that sleeps 10 ms in a loop and records how late it wakes
up (the event-loop lag). It reads commands on stdin, one a line, and answers each with one JSON line on stdout:
`lag` (the lag since the last `reset`), `reset`, `stop`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import discord.gateway  # noqa: E402
import discord.http  # noqa: E402
import yarl  # noqa: E402

from bot.app import create_bot  # noqa: E402

PROBE_S = 0.010


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


async def commands(bot, probe: LagProbe) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().strip():
        if line == "reset":
            probe.samples = []
            print(json.dumps({"ok": True}), flush=True)
        elif line == "lag":
            print(json.dumps(probe.report()), flush=True)
        elif line == "stop":
            break


async def main(api_base: str, gateway: str, token: str) -> None:
    discord.http.Route.BASE = api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    bot = create_bot(guild_ready_timeout=0.05)
    probe = LagProbe()
    probe_task = asyncio.create_task(probe.run())
    async with bot:
        await bot.login(token)
        runner = asyncio.create_task(bot.connect(reconnect=False))
        await bot.wait_until_ready()
        print(json.dumps({"ready": True, "concurrency": bot.settings.ask_concurrency,
                          "cooldown": [bot.settings.ask_cooldown_rate, bot.settings.ask_cooldown_s]}), flush=True)
        await commands(bot, probe)
        probe_task.cancel()
        await bot.close()
        runner.cancel()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
