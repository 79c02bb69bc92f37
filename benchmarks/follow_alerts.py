"""Follow alert latency: 50 follows in a library, one new article per round polled from a local feed, alerted on the
Discord double. Prints p50/p95/max seconds from the poll's ingest commit to the alert message (target p95 <= 5 s).

    PYTHONPATH=. python benchmarks/follow_alerts.py [--rounds 20] [--follows 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import create_bot  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.doubles.discord_double import DiscordDouble  # noqa: E402
from tests.doubles.feeds_site import NewsSite, Page, rss  # noqa: E402

TOWNS = ["Tampere", "Oulu", "Turku", "Espoo", "Vaasa", "Lahti", "Pori", "Kotka", "Joensuu", "Kuopio"]
OTHER_TOPICS = ["football transfer", "Prime Day deals", "central bank rates", "Mars rover", "film festival",
                "wildfire season", "chess championship", "vaccine trial", "tax reform", "airline strike"]


def story(i: int) -> dict:
    town = TOWNS[i % len(TOWNS)]
    body = (f"Engineers closed the {town} harbour bridge number {i} on Tuesday after a crack was found in its span. "
            f"Traffic in {town} was sent around the harbour while inspectors examined beam {i}. ") * 4
    return {"guid": f"bridge-{i}", "link": f"https://courier.example/bridge-{i}",
            "title": f"{town} harbour bridge {i} closed after crack", "content": f"<p>{body}</p>"}


def sent(services) -> int:
    store = services.follows.store
    with store.lock:
        return store.conn.execute("SELECT COUNT(*) FROM follow_hits WHERE state='sent'").fetchone()[0]


async def main(rounds: int, n_follows: int) -> None:
    from rag.services import build_services

    data = Path(tempfile.mkdtemp()) / "store"
    services = build_services(make_settings(data, allow_private_urls=True))
    with NewsSite() as site:
        items: list[dict] = []
        site.routes["/feed.xml"] = Page(rss("Tampere Courier", items))
        async with DiscordDouble() as double:
            library = f"guild-{double.guild_id}"
            services.add_follow("harbour bridge closed", owner_id=double.admin.id, channel_id=double.news_id,
                                guild_id=double.guild_id, library=library)
            for k in range(n_follows - 1):
                services.add_follow(f"{OTHER_TOPICS[k % len(OTHER_TOPICS)]} {k}", owner_id=1000 + k,
                                    channel_id=double.general_id, guild_id=double.guild_id, library=library)
            services.add_feed(site.url("/feed.xml"), library=library)
            committed: list[float] = []
            ingest = services.index.ingest

            def timed_ingest(*args, **kwargs):
                result = ingest(*args, **kwargs)
                committed.append(time.monotonic())  # the commit is done; matching follows it
                return result

            services.index.ingest = timed_ingest
            settings = make_settings(data, alerts_per_hour=1000)
            latencies = []
            async with double.running_bot(create_bot(settings, services, guild_ready_timeout=0.05)) as bot:
                bot.get_cog("FeedsCog").poller.cancel()
                services.warm()
                for i in range(rounds):
                    items.append(story(i))
                    site.routes["/feed.xml"] = Page(rss("Tampere Courier", items[-5:]))
                    before = sent(services)
                    services.feeds.store.resume(library, site.url("/feed.xml"))
                    await asyncio.to_thread(services.poll_feeds, library=library, all_feeds=True)
                    deadline = time.monotonic() + 30
                    while sent(services) == before:  # posted, or edited into its story's first alert
                        if time.monotonic() > deadline:
                            raise SystemExit(f"round {i}: no alert within 30 s (did the article match?)")
                        await asyncio.sleep(0.01)
                    latencies.append(time.monotonic() - committed[-1])
    latencies.sort()
    p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
    print(f"follows={n_follows} rounds={rounds} commit->alert seconds: p50={statistics.median(latencies):.2f} "
          f"p95={p95:.2f} max={latencies[-1]:.2f} (target p95 <= 5 s; the alert loop wakes on an in-process hit, "
          f"else every {settings.alert_poll_s:g} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--follows", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.follows))
