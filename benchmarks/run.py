"""Performance benchmarks (issue #7): ingest, retrieval at two scales, ask, and the bot under load; on the large
store, library-scoped retrieval and its dev-set quality (issue #12, benchmarks/scoped.py).

    PYTHONPATH=. python benchmarks/run.py --corpus ../shared/eval/multihop-rag/corpus.json \
        --queries ../shared/eval/multihop-rag/queries_dev.json [--json] [--details out.json]

Everything runs offline: the MiniLM embedder, the extractive stub model and the local Discord double. See
docs/benchmarks.md for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answering.query import Query  # noqa: E402
from rag.articles.article import Article  # noqa: E402
from rag.articles.loaders import load_paths  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.store.index import NewsIndex, open_chroma  # noqa: E402
from rag.retrieval.retriever import NewsRetriever  # noqa: E402
from rag.services import Services, build_services  # noqa: E402

from benchmarks.scoped import bench_scoped, scoped_quality  # noqa: E402

MODES = ("dense", "bm25", "hybrid")  # hybrid is NewsRetriever's default mode
DEFAULT_MODE = NewsRetriever.model_fields["mode"].default


def settings_for(data_dir: Path) -> Settings:
    return Settings(_env_file=None, data_dir=data_dir, llm="stub", embedding_provider="local")


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def load_questions(path: Path, n: int) -> list[str]:
    return [q["query"] for q in json.loads(path.read_text(encoding="utf-8"))[:n]]


# ---- 1. ingest --------------------------------------------------------------------------------------


def bench_ingest(corpus: Path, services: Services, max_articles: int | None) -> dict:
    """Ingest into the (fresh) store, then encode the same chunk texts again with the same embedder."""
    index = services.index
    start = time.perf_counter()
    articles = [a for a in load_paths([corpus], None, 1 << 30) if isinstance(a, Article)][:max_articles]
    result = index.ingest(articles)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    assert result.ok and not result.unchanged, "the ingest store was not fresh"
    texts = [r[0] for r in index.db.execute("SELECT text FROM chunks ORDER BY rowid")]
    embedder = index.embeddings
    start = time.perf_counter()
    embedder.embed_array(texts)
    encode = time.perf_counter() - start
    return {"chunks": result.chunks_written, "seconds": round(seconds, 2),
            "chunks_per_s": round(result.chunks_written / seconds, 2), "encode_seconds": round(encode, 2),
            "ratio_to_encode": round(seconds / encode, 3), "peak_rss_mb": round(peak, 1),
            "_articles": len(articles), "_batch_size": embedder.batch_size}


# ---- 2. retrieval -------------------------------------------------------------------------------------


def time_retrieval(index: NewsIndex, questions: list[str], mode: str, k: int = 10) -> dict:
    retriever = NewsRetriever(index=index, k=k, mode=mode)
    start = time.perf_counter()
    retriever.warm(wait=True)  # what a long-running process (the bot) keeps in memory, built before timing
    warm_s = time.perf_counter() - start
    for q in questions[:5]:  # warm caches (SQLite pages, HNSW, onnx) before timing
        retriever.invoke(q)
    times = []
    for q in questions:
        start = time.perf_counter()
        docs = retriever.invoke(q)
        times.append((time.perf_counter() - start) * 1000)
        assert docs, f"{mode} found nothing for {q!r}"
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(pct(times, 95), 2),
            "_warm_s": round(warm_s, 2)}


def bench_retrieval(index: NewsIndex, questions: list[str]) -> dict:
    out = {"chunks": index.stats()["chunks"]}
    for mode in MODES:
        out[mode] = time_retrieval(index, questions, mode)
    return out


def store_counts(index: NewsIndex) -> tuple[int, int, int]:
    stats = index.stats()
    return stats["articles"], stats["chunks"], index.vectors.count()


def add_copies(index: NewsIndex, first: int, last: int) -> None:
    """Copies first..last of every original chunk (vector and text) under new ids, written directly: no encoding."""
    originals = [r[0] for r in index.db.execute("SELECT chunk_id FROM chunks WHERE chunk_id NOT LIKE '%~%'")]
    stored = index.vectors.collection.get(ids=originals, include=["embeddings", "metadatas", "documents"])
    for n in range(first, last + 1):
        tag = f"~{n:02d}"
        ids, metas = [], []
        for cid, meta in zip(stored["ids"], stored["metadatas"]):
            version, index_part = cid.rsplit(":", 1)
            ids.append(f"{version}{tag}:{index_part}")
            metas.append({**meta, "article_id": meta["article_id"] + tag})
        index.vectors.upsert(ids, stored["embeddings"], metas, stored["documents"])
        with index.db:
            copy_rows(index.db, tag)


def copy_rows(db: sqlite3.Connection, tag: str) -> None:
    """Registry, chunk, FTS5 and library rows for one copy of the original articles (ids suffixed with `tag`)."""
    top = db.execute("SELECT MAX(rowid) FROM chunks").fetchone()[0]
    db.execute("INSERT INTO versions SELECT version_id || ?, article_id || ?, title, source, published, url, "
               "content_hash, n_chunks, origin, ingested_at FROM versions WHERE version_id NOT LIKE '%~%'", (tag, tag))
    db.execute("INSERT INTO chunks (chunk_id, version_id, chunk_index, start, end, text) "
               "SELECT version_id || ? || substr(chunk_id, length(version_id) + 1), version_id || ?, chunk_index, "
               "start, end, text FROM chunks WHERE version_id NOT LIKE '%~%' ORDER BY rowid", (tag, tag))
    db.execute("INSERT INTO chunks_fts (rowid, title, source, body) SELECT c.rowid, v.title, "
               "coalesce(v.source, ''), c.text FROM chunks c JOIN versions v USING (version_id) WHERE c.rowid > ?",
               (top,))
    db.execute("INSERT INTO library_articles SELECT 'default', v.article_id, v.version_id, 0 FROM versions v "
               "WHERE v.version_id LIKE ?", (f"%{tag}",))


def bench_scaling(small: Services, questions: list[str], large_chunks: int, log,
                  queries: Path | None = None, keep: Path | None = None) -> tuple[list[dict], dict | None]:
    """Latency on a throwaway copy of the store grown with copies of its chunks, then split into libraries
    (scoped latency, and with `queries` the dev set's scoped quality); the real store is untouched."""
    before = store_counts(small.index)
    n = before[1]
    copies = math.ceil(large_chunks / n) - 1
    stages = sorted({max(1, copies // 4), copies})
    work = Path(tempfile.mkdtemp(prefix="newsbot-large-"))
    try:
        shutil.copytree(small.settings.data_dir, work / "store")
        settings = settings_for(work / "store")
        embeddings = small.index.embeddings
        index = NewsIndex(open_chroma(settings), embeddings, settings.data_dir)
        rows, done = [], 0
        for stage in stages:
            start = time.perf_counter()
            add_copies(index, done + 1, stage)
            done = stage
            articles, chunks, vectors = store_counts(index)
            assert chunks == vectors == n * (stage + 1), (chunks, vectors)
            log(f"  grew the copy to {chunks} chunks in {time.perf_counter() - start:.0f} s; timing queries")
            rows.append(bench_retrieval(index, questions))
        scoped = bench_scoped(index, questions, log)
        if queries:
            log("  the dev set, scoped to library dev")
            scoped["quality"] = scoped_quality(index, queries)
        index.db.close()
        if keep:
            shutil.move(work / "store", keep)
            log(f"  kept the grown, split store in {keep}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert store_counts(small.index) == before, "the real store changed"
    return rows, scoped


# ---- 3. ask -------------------------------------------------------------------------------------------


def bench_ask(services: Services, questions: list[str]) -> dict:
    services.retriever.warm(wait=True)  # as the bot does at startup (in the background there)
    for q in questions[:3]:
        services.ask(Query(q))
    times, abstained = [], 0
    for q in questions:
        start = time.perf_counter()
        answer = services.ask(Query(q))
        times.append((time.perf_counter() - start) * 1000)
        abstained += answer.abstained
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(pct(times, 95), 2),
            "_queries": len(questions), "_abstained": abstained, "_model": answer.model}


# ---- 4 + 5. the bot under load ----------------------------------------------------------------------------


async def bench_bot(data_dir: Path, questions: list[str], concurrent: int, servers: int, log,
                    trace: bool = False) -> dict:
    """50 concurrent /ask from distinct users spread over `servers` servers through the Discord double, the bot in
    its own process."""
    from tests.doubles.discord_double import MESSAGE_FLAG_EPHEMERAL, DiscordDouble

    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "OPENAI_", "DISCORD_"))}
    env.update(NEWSBOT_DATA_DIR=str(data_dir), NEWSBOT_LLM="stub", PYTHONPATH=str(ROOT),
               BENCH_TRACE_CALLBACKS="1" if trace else "0")
    async with DiscordDouble() as double:
        guild_ids = [double.guild_id] + [double.add_guild(f"server{i}").id for i in range(1, servers)]
        child = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "benchmarks" / "bot_child.py"), double.api_base, double.gateway_url + "/",
            double.token, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, cwd=tempfile.gettempdir())

        async def call(command: str | None) -> dict:
            if command:
                child.stdin.write(command.encode() + b"\n")
                await child.stdin.drain()
            return json.loads(await asyncio.wait_for(child.stdout.readline(), 120))

        try:
            ready = await call(None)
            await double._wait_until(lambda: double._find_command("ask", True)[0], 30, "/ask registered")
            await asyncio.sleep(3)  # let startup settle before reading the idle figures
            idle_rss = rss_mb(child.pid)
            users = [double.create_user(f"load{i}", guild_id=guild_ids[i % servers]) for i in range(concurrent)]
            await call("reset")

            async def one(i: int) -> tuple[float, bool]:
                start = time.perf_counter()
                record = await double.invoke_slash("ask", {"question": questions[i % len(questions)]}, user=users[i],
                                                   guild_id=guild_ids[i % servers])
                reply = await record.wait_for_reply(timeout=300)
                return time.perf_counter() - start, not reply["flags"] & MESSAGE_FLAG_EPHEMERAL

            start = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(concurrent)))
            wall = time.perf_counter() - start
            lag = await call("lag")
            await asyncio.sleep(1)
            after_rss = rss_mb(child.pid)
            failed = [r for r in double.requests if r.status is None or r.status >= 400]
            child.stdin.write(b"stop\n")
            await asyncio.wait_for(child.wait(), 30)
        finally:
            if child.returncode is None:
                child.kill()
                await child.wait()
    latencies = [s for s, _ in results]
    return {"concurrent": concurrent, "answered": sum(ok for _, ok in results),
            "p95_s": round(pct(latencies, 95), 2), "max_loop_lag_ms": round(lag["max_ms"], 1),
            "rss_mb": round(after_rss, 1), "_idle_rss_mb": round(idle_rss, 1), "_p50_s": round(
                statistics.median(latencies), 2), "_wall_s": round(wall, 2), "_lag_p99_ms": round(lag["p99_ms"], 1),
            "_failed_requests": len(failed), "_ask_concurrency": ready["concurrency"],
            "_cooldown": ready["cooldown"], "_servers": servers, "_load_avg": os.getloadavg(),
            **({"_trace": lag["trace"]} if "trace" in lag else {})}


# ---- the run ----------------------------------------------------------------------------------------------


def public(section: dict) -> dict:
    """The contract's keys only (those not starting with '_')."""
    return {k: v for k, v in section.items() if not k.startswith("_")}


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "load_avg_start": os.getloadavg()}


def run(args: argparse.Namespace, log) -> dict:
    details: dict = {"machine": machine()}
    if args.bot_only:
        return run_bot_only(args, details, log)
    data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="newsbot-bench-")) / "store"
    fresh = not (data_dir / "newsbot.sqlite3").exists()
    services = build_services(settings_for(data_dir))
    if fresh:
        log(f"ingesting {args.corpus} into {data_dir}")
        details["ingest"] = bench_ingest(args.corpus, services, args.max_articles)
    else:
        log(f"reusing the store in {data_dir}: no ingest figures")
        details["ingest"] = None
    retrieval_q = load_questions(args.queries, args.retrieval_queries)
    log(f"retrieval: {len(retrieval_q)} queries x {MODES} on the corpus store")
    small = bench_retrieval(services.index, retrieval_q)
    growth = [small]
    if not args.skip_large:
        rows, details["libraries"] = bench_scaling(services, retrieval_q, args.large_chunks, log,
                                                   None if args.skip_quality else args.queries, args.keep_large)
        growth += rows
    details["retrieval_growth"] = growth
    log("ask end to end with the stub model")
    details["ask"] = bench_ask(services, load_questions(args.queries, args.ask_queries))
    services.index.db.close()
    if not args.skip_bot:
        log(f"the bot: {args.concurrent} concurrent /ask over {args.servers} servers through the Discord double")
        details["bot"] = asyncio.run(bench_bot(data_dir, retrieval_q, args.concurrent, args.servers, log,
                                                  args.trace_callbacks))
    details["machine"]["load_avg_end"] = os.getloadavg()
    details["default_mode"] = DEFAULT_MODE
    return details


def run_bot_only(args: argparse.Namespace, details: dict, log) -> dict:
    """Only the bot under load, on a store built before (`--data-dir`): nothing ingested, nothing grown."""
    data_dir = Path(args.data_dir or "")
    if not args.data_dir or not (data_dir / "newsbot.sqlite3").exists():
        raise SystemExit("error: --bot-only needs --data-dir naming a store built before (e.g. by a full run)")
    questions = load_questions(args.queries, args.retrieval_queries)
    log(f"the bot only: {args.concurrent} concurrent /ask over {args.servers} servers, the store in {data_dir}")
    details["bot"] = asyncio.run(bench_bot(data_dir, questions, args.concurrent, args.servers, log,
                                              args.trace_callbacks))
    details["machine"]["load_avg_end"] = os.getloadavg()
    return details


def contract(details: dict) -> dict:
    """Exactly the object issue #7 asks for; retrieval figures are the default mode's."""
    growth = details.get("retrieval_growth") or []

    def default(row: dict) -> dict:
        return {"chunks": row["chunks"], **public(row[DEFAULT_MODE])}

    return {
        "ingest": public(details["ingest"]) if details.get("ingest") else None,
        "retrieval": {"small": default(growth[0]), "large": default(growth[-1]) if len(growth) > 1 else None}
        if growth else None,
        "ask": public(details["ask"]) if details.get("ask") else None,
        "bot": public(details["bot"]) if details.get("bot") else None,
        "scoped": scoped_contract(details.get("libraries")),
    }


def scoped_contract(scoped: dict | None) -> dict | None:
    """Issue #12's figures: the smallest and the largest library's latency, and the dev set scoped to `dev`."""
    if not scoped:
        return None
    return {"libraries": scoped["libraries"], "total_chunks": scoped["total_chunks"],
            **{size: public(scoped[size]) for size in ("smallest", "largest")},
            "quality": public(scoped["quality"]) if "quality" in scoped else None}


def table(details: dict) -> str:
    lines = []
    ing = details.get("ingest")
    if ing:
        lines += [f"ingest   {ing['chunks']} chunks ({ing['_articles']} articles) in {ing['seconds']} s = "
                  f"{ing['chunks_per_s']} chunks/s; raw encode {ing['encode_seconds']} s (batch {ing['_batch_size']}); "
                  f"ratio {ing['ratio_to_encode']}; peak RSS {ing['peak_rss_mb']} MB"]
    if details.get("retrieval_growth"):
        lines.append(f"retrieval p50 / p95 ms (k=10; default mode = {DEFAULT_MODE})")
        lines.append("  chunks  " + "".join(f"{m:>18}" for m in MODES))
    for row in details.get("retrieval_growth", []):
        lines.append(f"  {row['chunks']:>6}  " + "".join(
            f"{row[m]['p50_ms']:>9.1f} /{row[m]['p95_ms']:>7.1f}" for m in MODES)
            + f"   (in-memory keyword index built in {row[DEFAULT_MODE]['_warm_s']} s)")
    scoped = details.get("libraries")
    if scoped:
        lines.append(f"scoped   hybrid p50 / p95 ms, {scoped['total_chunks']} chunks in {scoped['libraries']} libraries")
        for label in ("smallest", "largest", "dev", "all_but_smallest"):
            row = scoped[label]
            lines.append(f"  {label:17} {row['library']:14} {row['chunks']:>6} chunks  {row['p50_ms']:>6.1f} / "
                         f"{row['p95_ms']:>6.1f}   (outside scope {row['_outside_scope']}, short "
                         f"{row['_short_results']}, first 5 questions {row['_first_5_s']} s)")
        quality = scoped.get("quality")
        if quality:
            lines.append("  dev set scoped to dev: " + ", ".join(f"{m} {quality[m]}" for m in
                         ("Hits@10", "Hits@4", "MRR@10", "MAP@10")) + f" ({quality['n']} queries, outside scope "
                         f"{quality['_outside_scope']})")
    ask = details.get("ask")
    if ask:
        lines.append(f"ask      p50 {ask['p50_ms']} ms, p95 {ask['p95_ms']} ms over {ask['_queries']} queries "
                     f"({ask['_model']}, {ask['_abstained']} abstained)")
    bot = details.get("bot")
    if bot:
        lines.append(f"bot      {bot['answered']}/{bot['concurrent']} answered over {bot.get('_servers', 1)} servers; "
                     f"p50 {bot['_p50_s']} s, p95 {bot['p95_s']} s, all in {bot['_wall_s']} s; max loop lag {bot['max_loop_lag_ms']} ms "
                     f"(p99 {bot['_lag_p99_ms']} ms); RSS idle {bot['_idle_rss_mb']} MB, after {bot['rss_mb']} MB; "
                     f"ask_concurrency {bot['_ask_concurrency']}; failed requests {bot['_failed_requests']}")
    load = details["machine"]
    lines.append(f"machine  {load['cpus']} CPUs, load average {load['load_avg_start']} at start, "
                 f"{load.get('load_avg_end')} at end")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, help="MultiHop-RAG corpus.json (not needed with --bot-only)")
    p.add_argument("--queries", type=Path, required=True, help="MultiHop-RAG queries_dev.json")
    p.add_argument("--json", action="store_true", help="print the issue #7 JSON object instead of a table")
    p.add_argument("--details", type=Path, help="also write every figure (all modes, growth, idle RSS) here")
    p.add_argument("--data-dir", help="store folder: a fresh one is ingested; an existing one is reused (no ingest)")
    p.add_argument("--skip-large", action="store_true", help="skip the large (copied-chunks) store")
    p.add_argument("--skip-bot", action="store_true", help="skip the bot load test")
    p.add_argument("--bot-only", action="store_true",
                   help="run only the bot load test, on the existing store named by --data-dir")
    p.add_argument("--trace-callbacks", action="store_true",
                   help="time every event-loop callback in the bot (details file: the slowest, loop CPU)")
    p.add_argument("--skip-quality", action="store_true", help="skip the dev set scoped to a library")
    p.add_argument("--keep-large", type=Path, help="keep the grown, split store in this (new) folder")
    p.add_argument("--max-articles", type=int, help="ingest only the first N articles (quick runs)")
    p.add_argument("--retrieval-queries", type=int, default=200)
    p.add_argument("--ask-queries", type=int, default=50)
    p.add_argument("--concurrent", type=int, default=50)
    p.add_argument("--servers", type=int, default=5, help="servers the bot load's users are spread over")
    p.add_argument("--large-chunks", type=int, default=90_000)
    args = p.parse_args(argv)
    if args.corpus is None and not args.bot_only:
        p.error("--corpus is required (except with --bot-only)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    details = run(args, log)
    if args.details:
        args.details.write_text(json.dumps(details, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(contract(details)) if args.json else table(details))
    return 0


if __name__ == "__main__":
    sys.exit(main())
