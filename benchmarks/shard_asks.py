"""50 concurrent /ask spread over two bot shards (issue #27): two bot processes, NEWSBOT_SHARD_COUNT=2 with shard ids
0 and 1, on the local Discord double, sharing one store; the double sends each server's interactions only to the
process of its shard. Prints how many were answered, the wall time and the p50/p95 latency.

    PYTHONPATH=. python benchmarks/shard_asks.py [--concurrent 50] [--servers 4] [--data-dir STORE]

Without --data-dir the two seed articles (rag/samples) are ingested into a temporary store first. Everything runs
offline: the MiniLM embedder, the extractive stub model and the Discord double.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.articles.loaders import load_paths  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.services import build_services  # noqa: E402
from tests.conftest import SEEDS  # noqa: E402
from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble  # noqa: E402
from tests.support.bot_process import bot_env, bot_process  # noqa: E402

QUESTIONS = ("How many drones did Russia deploy according to CNN?", "What did Trump warn Putin about?",
             "Which outlets reported on the drones?")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def seeded_store() -> Path:
    data_dir = Path(tempfile.mkdtemp(prefix="newsbot-shards-")) / "store"
    services = build_services(Settings(_env_file=None, data_dir=data_dir, llm="stub"), chat_model=False)
    assert services.index.ingest(load_paths([SEEDS])).ok
    return data_dir


async def bench(data_dir: Path, concurrent: int, servers: int) -> dict:
    async with DiscordDouble() as double:
        guilds = [double.add_guild(f"server{i}", shard=(i % 2, 2)).id for i in range(servers)]
        users = [double.create_user(f"load{i}", guild_id=guilds[i % servers]) for i in range(concurrent)]
        envs = [bot_env(data_dir, NEWSBOT_SHARD_COUNT="2", NEWSBOT_SHARD_IDS=str(i)) for i in (0, 1)]
        cwd = Path(tempfile.gettempdir())
        async with bot_process(double, envs[0], cwd), bot_process(double, envs[1], cwd):
            await double._wait_until(lambda: double._find_command("ask", True)[0], 30, "/ask registered")

            async def one(i: int) -> tuple[float, bool]:
                start = time.perf_counter()
                record = await double.invoke_slash("ask", {"question": QUESTIONS[i % len(QUESTIONS)]},
                                                   user=users[i], guild_id=guilds[i % servers])
                reply = await record.wait_for_reply(timeout=300)
                answered = not reply["flags"] & MESSAGE_FLAG_EPHEMERAL and "went wrong" not in reply["content"]
                return time.perf_counter() - start, answered

            start = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(concurrent)))
            wall = time.perf_counter() - start
        failed = [r for r in double.requests if r.status is None or r.status >= 400]
    latencies = [s for s, _ in results]
    per_shard = [sum(ok for i, (_, ok) in enumerate(results) if i % servers % 2 == shard) for shard in (0, 1)]
    return {"concurrent": concurrent, "answered": sum(ok for _, ok in results), "answered_by_shard": per_shard,
            "wall_s": round(wall, 2), "p50_s": round(statistics.median(latencies), 2),
            "p95_s": round(pct(latencies, 95), 2), "failed_requests": len(failed), "servers": servers}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--servers", type=int, default=4, help="servers, alternately on shards 0 and 1")
    parser.add_argument("--data-dir", help="an existing store (default: the seeds in a temporary one)")
    args = parser.parse_args(argv)
    data_dir = Path(args.data_dir) if args.data_dir else seeded_store()
    figures = asyncio.run(bench(data_dir, args.concurrent, max(2, args.servers)))
    print(f"command: PYTHONPATH=. python benchmarks/shard_asks.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(json.dumps(figures))
    print(f"{figures['answered']}/{figures['concurrent']} answered over two shard processes "
          f"(shard 0: {figures['answered_by_shard'][0]}, shard 1: {figures['answered_by_shard'][1]}); "
          f"wall {figures['wall_s']} s, p50 {figures['p50_s']} s, p95 {figures['p95_s']} s")


if __name__ == "__main__":
    main()
