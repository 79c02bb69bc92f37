"""Feed polling figures (issue #13): `python benchmarks/feeds.py [--feeds 100] [--entries 30] [--json]`.

A local news site on 127.0.0.1 serves `--feeds` RSS feeds of `--entries` entries each (with ETags); half the feeds
carry only teasers, so their entries' pages are fetched and extracted, half carry the full text in content:encoded.
The poll runs exactly as the bot runs it (`asyncio.to_thread(services.poll_feeds, every_library=True,
in_child=…)` after `gc.freeze()`; a thread by default here, the bot's default child process with `--process`),
while a probe task on the event loop records how late a 10 ms sleep wakes up (the loop lag).

Printed: the first poll's wall time against a raw encode of the very chunks it stored (the embedding alone, same
batches: the ratio target is <= 1.3), the second poll (every feed answers 304: target <= 2 s), the loop lag in
each poll, peak RSS, and the load average before and after (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bot_child import LagProbe  # noqa: E402  (the bot benchmark's probe: a 10 ms sleep's overshoot)
from rag.config import Settings  # noqa: E402
from tests.doubles.feeds_site import NewsSite, Page, article_page, rss  # noqa: E402

WORDS = ("council harbour budget minister election storm rail bridge hospital school union strike court ruling "
         "market shares energy price wind farm drought harvest police inquiry festival museum airport runway "
         "ferry port tariff export vaccine clinic mayor protest treaty border summit talks ceasefire drone "
         "satellite launch bank rates inflation housing rent wages pension reform").split()


def text_for(rng: random.Random, n: int = 6) -> list[str]:
    """`n` paragraphs of 3 plausible sentences, different for every article."""
    out = []
    for _ in range(n):
        sentences = []
        for _ in range(3):
            a, b, c, d = rng.sample(WORDS, 4)
            sentences.append(f"Officials said the {a} plan for the {b} would cost {rng.randint(2, 900)} million "
                             f"and that the {c} review of the {d} was due on day {rng.randint(1, 28)}.")
        out.append(" ".join(sentences))
    return out


def build_site(site: NewsSite, feeds: int, entries: int) -> list[str]:
    rng = random.Random(13)
    urls = []
    for f in range(feeds):
        teasers = f % 2 == 0
        items = []
        for e in range(entries):
            paragraphs = text_for(rng)
            title = f"Feed {f} story {e}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
            page = f"/f{f}/s{e}.html"
            item = {"guid": f"f{f}-s{e}", "link": site.url(page) + "?utm_source=rss", "title": title,
                    "description": paragraphs[0][:150]}
            if teasers:
                site.routes[page] = Page(article_page(title, paragraphs, site_name=f"Site {f}"), "text/html")
            else:
                item["content"] = "".join(f"<p>{p}</p>" for p in paragraphs)
            items.append(item)
        path = f"/f{f}/rss.xml"
        site.routes[path] = Page(rss(f"Outlet {f}", items), etag=f'"f{f}-v1"')
        urls.append(site.url(path))
    return urls


async def timed_poll(services, all_feeds: bool) -> tuple[float, object, dict]:
    probe = LagProbe()
    task = asyncio.ensure_future(probe.run())
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    result = await asyncio.to_thread(services.poll_feeds, all_feeds=all_feeds, every_library=True,
                                     in_child=services.settings.feed_poll_process)
    wall = time.perf_counter() - start
    task.cancel()
    return wall, result, lag(probe)


def lag(probe: LagProbe) -> dict:
    report = probe.report()
    return {"max_ms": round(report["max_ms"], 1), "p99_ms": round(report["p99_ms"], 1)}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def main(args) -> dict:
    from rag.services import build_services

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="newsbot-feeds-bench-") as folder, NewsSite() as site:
        urls = build_site(site, args.feeds, args.entries)
        settings = Settings(_env_file=None, data_dir=Path(folder), allow_private_urls=True,
                            feed_workers=args.workers, feed_poll_process=args.process)
        services = build_services(settings)
        services.index.embeddings.embed_documents(["warm up"])  # the model loaded before any timing
        for url in urls:
            services.feeds.store.add("bench", url, None, None, 1800, "auto")
        gc.collect()
        gc.freeze()  # as `newsbot bot` does after startup
        rss_start = rss_mb()
        idle = LagProbe()  # the same probe with no poll running: what the shared machine alone costs
        task = asyncio.ensure_future(idle.run())
        await asyncio.sleep(args.idle_s)
        task.cancel()

        first_wall, first, first_lag = await timed_poll(services, all_feeds=False)
        rss_polled = rss_mb()
        texts = services.index.registry.chunk_texts()
        batch = settings.ingest_batch_chunks
        start = time.perf_counter()
        for i in range(0, len(texts), batch):
            services.index.embeddings.embed_documents(texts[i:i + batch])
        encode = time.perf_counter() - start

        conditional = sum(site.conditional.values())
        second_wall, second, second_lag = await timed_poll(services, all_feeds=True)
        conditional = sum(site.conditional.values()) - conditional
        services.close_feeds(wait=True)  # the polling child (with --process) exits: its peak RSS is known
        return {
            "feeds": args.feeds, "entries_per_feed": args.entries, "workers": args.workers,
            "mode": "process" if args.process else "thread",
            "first_poll": {"wall_s": round(first_wall, 2), "new": first.new, "pages_fetched": first.pages_fetched,
                           "chunks": first.chunks_embedded, "failed": len(first.failed), "loop_lag": first_lag},
            "idle_loop_lag": {**lag(idle), "seconds": args.idle_s},
            "raw_encode_s": round(encode, 2), "chunks_encoded": len(texts),
            "ratio": round(first_wall / encode, 2) if encode else None,
            "second_poll": {"wall_s": round(second_wall, 2), "not_modified": second.not_modified,
                            "conditional_requests": conditional, "chunks": second.chunks_embedded,
                            "pages_fetched": second.pages_fetched, "loop_lag": second_lag},
            "rss_mb": {"before_polls": round(rss_start, 1), "after_first_poll": round(rss_polled, 1),
                       "after_raw_encode_and_second_poll": round(rss_mb(), 1),
                       "peak": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                       "child_peak": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)},
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--entries", type=int, default=30)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--idle-s", type=float, default=10.0, help="seconds of loop lag measured with no poll")
    parser.add_argument("--process", action="store_true", help="poll in a child process "
                        "(NEWSBOT_FEED_POLL_PROCESS=true) instead of a thread")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    figures = asyncio.run(main(options))
    if options.json:
        print(json.dumps(figures))
    else:
        f, s = figures["first_poll"], figures["second_poll"]
        print(f"{figures['feeds']} feeds x {figures['entries_per_feed']} entries, {figures['workers']} workers, "
              f"polling in a {figures['mode']}")
        print(f"first poll: {f['wall_s']} s ({f['new']} new, {f['pages_fetched']} pages, {f['chunks']} chunks, "
              f"{f['failed']} failed); raw encode of the same {figures['chunks_encoded']} chunks "
              f"{figures['raw_encode_s']} s; ratio {figures['ratio']} (target <= 1.3); loop lag max "
              f"{f['loop_lag']['max_ms']} ms, p99 {f['loop_lag']['p99_ms']} ms")
        print(f"second poll: {s['wall_s']} s ({s['not_modified']} not modified, {s['conditional_requests']} "
              f"conditional requests, {s['chunks']} chunks, {s['pages_fetched']} pages; target <= 2 s); loop lag "
              f"max {s['loop_lag']['max_ms']} ms, p99 {s['loop_lag']['p99_ms']} ms")
        print(f"loop lag with no poll ({figures['idle_loop_lag']['seconds']:g} s): max "
              f"{figures['idle_loop_lag']['max_ms']} ms, p99 {figures['idle_loop_lag']['p99_ms']} ms")
        print(f"RSS MB: {figures['rss_mb']}; load average before {figures['load_before']}, after "
              f"{figures['load_after']}")
