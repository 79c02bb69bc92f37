"""How fast `newsbot` answers (issue #18): whole-process wall time and peak memory of CLI commands, where `ask`'s
cold start goes, and the bot's time from start to ready.

    .venv/bin/python benchmarks/cli_startup.py [--runs 5] [--json]

Each command runs `--runs` times (after one untimed run that warms the page cache) as a fresh `newsbot` process
on a store holding the two seed articles (rag/samples/articles), built in a temporary folder; the figures are
medians. Peak memory is the child's own peak RSS (`os.wait4`). The bot runs `benchmarks/bot_child.py` (the store
opened as `newsbot bot` does) against the Discord double of tests/doubles/discord_double/ on 127.0.0.1. The load average
is printed beside every figure: the machine may be shared. docs/benchmarks.md ("CLI start-up") has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
NEWSBOT = BIN / "newsbot"
SEEDS = ROOT / "rag" / "samples" / "articles"
QUESTION = "What did Trump warn Putin about?"
# (name, newsbot arguments, wall target in s, peak target in MB); None: no target
COMMANDS = [
    ("--help", ["--help"], 0.4, None),
    ("stats", ["stats"], 0.6, 120),
    ("sources", ["sources"], 0.6, 120),
    ("libraries", ["libraries"], None, None),
    ("ask", ["ask", QUESTION], 1.5, None),
]
FLOORS = [  # what a command cannot go below: the interpreter, and the imports `ask` needs
    ("python -c pass", [sys.executable, "-c", "pass"]),
    ("import chromadb", [sys.executable, "-c", "import chromadb"]),
    ("import onnxruntime", [sys.executable, "-c", "import onnxruntime"]),
    ("import LangChain's Runnable", [sys.executable, "-c", "from langchain_core.runnables import Runnable"]),
]

# `newsbot ask`'s steps, in the order rag/cli/reading.py takes them, each timed (one fresh process per run).
BREAKDOWN = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name):
    marks.append((name, time.perf_counter()))
import rag.cli.app; import rag.cli.common as cli; mark("import rag.cli.app (typer, rich)")
cli.start_loading_model(); mark("start loading the model (a thread)")
from rag.answering.chain import build_answer_chain; mark("import rag.answering.chain (LangChain)")
import rag.services; mark("import rag.services (the rest of rag)")
import chromadb; mark("import chromadb")
services = cli.open_services(); mark("open the store (SQLite, Chroma client)")
services.index.embeddings.load(); mark("wait for the model's session")
services.ask(Query(sys.argv[1])); mark("answer (embed, search, extract)")
print(json.dumps([(name, (t - marks[i][1]) * 1000) for i, (name, t) in enumerate(marks[1:])]))
"""
MODEL_ALONE = r"""
import json, time
from rag.embeddings.embedders import LocalMiniLMEmbeddings
start = time.perf_counter(); import onnxruntime; imported = time.perf_counter()
LocalMiniLMEmbeddings().load(); done = time.perf_counter()
print(json.dumps({"import onnxruntime": (imported - start) * 1000, "create the session": (done - imported) * 1000}))
"""


def env_for(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "OPENAI_", "DISCORD_"))}
    env.update(NEWSBOT_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    return env


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, float, bytes]:
    """Wall seconds, peak RSS in MB, CPU seconds (user + system, all threads) and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=tempfile.gettempdir())
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{argv} exited {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, out


def measure(argv: list[str], env: dict[str, str], runs: int) -> dict:
    timed(argv, env)  # untimed: warms the page cache
    before = load()
    results = [timed(argv, env) for _ in range(runs)]
    return {"wall_s": round(statistics.median(r[0] for r in results), 3),
            "peak_mb": round(statistics.median(r[1] for r in results), 1),
            "cpu_s": round(statistics.median(r[2] for r in results), 3),
            "runs_s": [round(r[0], 3) for r in results], "load_before": before, "load_after": load()}


def breakdown(env: dict[str, str], runs: int) -> dict:
    """Median milliseconds of each step of `ask`, and the model's session created alone (no overlap)."""
    steps: dict[str, list[float]] = {}
    alone: dict[str, list[float]] = {}
    before = load()
    for _ in range(runs):
        for name, ms in json.loads(timed([sys.executable, "-c", BREAKDOWN, QUESTION], env)[3]):
            steps.setdefault(name, []).append(ms)
        for name, ms in json.loads(timed([sys.executable, "-c", MODEL_ALONE], env)[3]).items():
            alone.setdefault(name, []).append(ms)
    return {"steps_ms": {k: round(statistics.median(v)) for k, v in steps.items()},
            "model_alone_ms": {k: round(statistics.median(v)) for k, v in alone.items()},
            "load_before": before, "load_after": load()}


async def bot_ready(data_dir: Path, runs: int) -> dict:
    """Seconds from starting the bot's process to discord.py's ready (store opened, slash commands synced), and
    from ready to the answer of the first /ask (which may wait for the embedding model still loading)."""
    env = env_for(data_dir) | {"NEWSBOT_LLM": "stub"}
    before = load()
    times = [await one_bot_run(env) for _ in range(runs + 1)][1:]  # the first run warms the page cache
    return {"ready_s": round(statistics.median(t[0] for t in times), 3),
            "first_ask_s": round(statistics.median(t[1] for t in times), 3),
            "runs_ready_s": [round(t[0], 3) for t in times], "load_before": before, "load_after": load()}


async def one_bot_run(env: dict[str, str]) -> tuple[float, float]:
    """Seconds from start to ready, and from ready to the first /ask's reply, of one bot process."""
    from tests.doubles.discord_double import DiscordDouble

    # The child's log goes to a file, shown if it fails: stopping it right after the first reply may cut off the
    # rest of a long answer, which it logs as an error.
    with tempfile.TemporaryFile() as log:
        async with DiscordDouble() as double, asyncio.timeout(180):
            start = time.perf_counter()
            child = await asyncio.create_subprocess_exec(
                sys.executable, str(ROOT / "benchmarks" / "bot_child.py"), double.api_base,
                double.gateway_url + "/", double.token, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log, env=env, cwd=tempfile.gettempdir())
            try:
                line = await child.stdout.readline()
                if not line:
                    log.seek(0)
                    raise SystemExit("the bot did not start:\n" + log.read().decode(errors="replace"))
                assert json.loads(line)["ready"]
                up = time.perf_counter()
                record = await double.invoke_slash("ask", {"question": QUESTION})
                await record.wait_for_reply(timeout=60)
                answered = time.perf_counter()
                child.stdin.write(b"stop\n")
                await child.stdin.drain()
                await asyncio.wait_for(child.wait(), 30)
            finally:
                if child.returncode is None:
                    child.kill()
                    await child.wait()
    return up - start, answered - up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="newsbot-cli-bench-"))
    try:
        data = work / "store"
        env = env_for(data)
        subprocess.run([str(NEWSBOT), "ingest", str(SEEDS)], env=env, check=True, capture_output=True)
        report = {"commands": {name: {**measure([str(NEWSBOT), *argv], env, args.runs), "target_s": target,
                                      "target_mb": mb} for name, argv, target, mb in COMMANDS},
                  "floors": {name: measure(argv, env, args.runs) for name, argv in FLOORS},
                  "ask_breakdown": breakdown(env, args.runs),
                  "bot": asyncio.run(bot_ready(data, args.runs)),
                  "cpus": os.cpu_count()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"whole-process medians of {args.runs} runs, {report['cpus']} CPUs: wall time, peak RSS, CPU time (user + "
          "system; less sensitive to a shared machine's load than wall time); load average (1, 5, 15 min) before "
          "and after each row")
    for name, row in {**report["commands"], **report["floors"]}.items():
        target = row.get("target_s")
        verdict = "" if target is None else ("  ok" if row["wall_s"] <= target else f"  MISS (target {target} s)")
        if row.get("target_mb") and row["peak_mb"] > row["target_mb"]:
            verdict += f"  MISS (target {row['target_mb']} MB)"
        print(f"{name:34} {row['wall_s']:6.3f} s {row['peak_mb']:7.1f} MB {row['cpu_s']:6.3f} s CPU   load "
              f"{row['load_before']} -> "
              f"{row['load_after']}{verdict}")
    ask = report["ask_breakdown"]
    print(f"ask, step by step (median ms; load {ask['load_before']} -> {ask['load_after']}):")
    for name, ms in ask["steps_ms"].items():
        print(f"  {name:44} {ms:6d}")
    print("  the model alone, no overlap: " + ", ".join(f"{k} {v} ms" for k, v in ask["model_alone_ms"].items()))
    bot = report["bot"]
    print(f"bot: start to ready {bot['ready_s']:.3f} s, ready to first /ask answered {bot['first_ask_s']:.3f} s "
          f"(runs {bot['runs_ready_s']}; load {bot['load_before']} -> {bot['load_after']})")


if __name__ == "__main__":
    main()
