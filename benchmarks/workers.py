"""Feed workers side by side (issue #27): `python benchmarks/workers.py [--feeds 100] [--entries 30] [--json]`.

A local news site on 127.0.0.1 serves `--feeds` RSS feeds of `--entries` teasers each; every teaser's page is
fetched and extracted, and each page answers after `--page-delay-ms` (35 ms by default: a real site's think time,
so that fetching dominates). The same due feeds are polled on a fresh embedded store by one `newsbot worker --once`,
then on another fresh store by two started at once; the wall of each run counts from the start of the processes to
the end of the last one (model loading included, as a user would time it).

Printed: both walls, their ratio (two / one, same run: the aim is <= 0.65), what each worker took, and that every
feed and page was fetched exactly once and every article stored. In embedded mode every ingest holds the store's
one write lock, so two workers overlap their fetching but not their storing: the ratio shows how much of a pass is
fetching. On a shared machine both workers also share its cores (the load average is printed before and after).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.feeds.registry import FeedStore  # noqa: E402
from tests.doubles.feeds_site import NewsSite  # noqa: E402
from tests.support.feeds import many_feeds  # noqa: E402

NEWSBOT = Path(sys.executable).parent / "newsbot"


def run(feeds: int, entries: int, delay_s: float, workers: int, folder: Path) -> dict:
    """One fresh store and site, `workers` processes at once: the wall, each worker's pass, the fetch counts."""
    data = folder / f"store-{workers}"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "OPENAI_", "DISCORD_"))}
    env |= {"PYTHONPATH": str(ROOT), "NEWSBOT_DATA_DIR": str(data), "NEWSBOT_ALLOW_PRIVATE_URLS": "true"}
    with NewsSite() as site:
        paths = many_feeds(site, feeds, entries, page_delay_s=delay_s)
        store = FeedStore(data)
        for path in paths:
            store.add("default", site.url(path), None, None, 1800, "auto")
        store.close()
        started = time.perf_counter()
        procs = [subprocess.Popen([str(NEWSBOT), "worker", "--once", "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in range(workers)]
        outs = [p.communicate() for p in procs]
        wall = time.perf_counter() - started
        fetched_twice = sum(n > 1 for n in site.hits.values())
        fetches = sum(site.hits.values())
    passes = [json.loads(out) if p.returncode == 0 else {"error": err[-500:]} for p, (out, err) in zip(procs, outs)]
    stats = subprocess.run([str(NEWSBOT), "stats", "--json"], capture_output=True, text=True, env=env, check=True)
    return {"workers": workers, "wall_s": round(wall, 2), "feeds_taken": [p.get("feeds") for p in passes],
            "new": sum(p.get("new", 0) for p in passes), "fetches": fetches, "fetched_twice": fetched_twice,
            "articles_stored": json.loads(stats.stdout)["articles"], "errors": [p["error"] for p in passes
                                                                              if "error" in p]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=100)
    parser.add_argument("--entries", type=int, default=30)
    parser.add_argument("--page-delay-ms", type=float, default=35.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="newsbot-workers-") as tmp:
        one = run(args.feeds, args.entries, args.page_delay_ms / 1000, 1, Path(tmp))
        two = run(args.feeds, args.entries, args.page_delay_ms / 1000, 2, Path(tmp))
    figures = {"feeds": args.feeds, "entries": args.entries, "page_delay_ms": args.page_delay_ms, "one": one,
               "two": two, "ratio": round(two["wall_s"] / one["wall_s"], 3), "cpus": os.cpu_count(),
               "load_before": [round(x, 2) for x in load_before],
               "load_after": [round(x, 2) for x in os.getloadavg()]}
    if args.json:
        print(json.dumps(figures))
        return
    print(f"command: python benchmarks/workers.py --feeds {args.feeds} --entries {args.entries} "
          f"--page-delay-ms {args.page_delay_ms:g}")
    for run_ in (one, two):
        print(f"{run_['workers']} worker(s): wall {run_['wall_s']:.1f} s, feeds taken {run_['feeds_taken']}, "
              f"new {run_['new']}, stored {run_['articles_stored']}, fetches {run_['fetches']} "
              f"(fetched twice: {run_['fetched_twice']})" + (f", errors {run_['errors']}" if run_['errors'] else ""))
    print(f"ratio two/one: {figures['ratio']:.3f} (aim <= 0.65); {figures['cpus']} CPUs, load "
          f"{figures['load_before']} -> {figures['load_after']}")


if __name__ == "__main__":
    main()
