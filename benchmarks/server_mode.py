"""Retrieval in embedded vs server mode (#27): dev-set Hits@10 / MRR@10 and search p50, on the same chunks.

The eval store (a copy: the original is never written) is copied into a throwaway PostgreSQL and a `chroma run`
server with `rag.store.copy.copy_store` (no embedding again); both stores then answer the same dev queries with
the hybrid retriever (its in-memory keyword copy warmed, as `newsbot eval` does) and time keyword and hybrid
searches. Prints one JSON object.

    PYTHONPATH=. python benchmarks/server_mode.py --store /tmp/calib/data/eval-bf10ec2507b1a897 \
        --queries /work/shared/eval/multihop-rag/queries_dev.json [--limit 200]
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def chroma_server(path: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path), "--host",
                             "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.2)
    raise SystemExit("chroma run did not start")


def measure(indexes: dict, rows: list[dict]) -> dict:
    """Each query in every mode in turn (so a busy machine slows the modes alike): quality and p50 per mode."""
    from rag.eval.retrieval import mean_metrics, score_query
    from rag.retrieval.retriever import DEFAULT_RECIPE, NewsRetriever

    searches = {mode: NewsRetriever(index=index, mode="hybrid", k=10) for mode, index in indexes.items()}
    for search in searches.values():
        search.warm(wait=True)
    scored, hybrid, keyword = ({mode: [] for mode in indexes} for _ in range(3))
    for q in rows:
        for mode, index in indexes.items():
            start = time.perf_counter()
            docs = searches[mode].search(q["query"], k=10)
            hybrid[mode].append(time.perf_counter() - start)
            start = time.perf_counter()
            index.keyword_search(q["query"], 10, weights=DEFAULT_RECIPE.weights, max_df=DEFAULT_RECIPE.max_df)
            keyword[mode].append(time.perf_counter() - start)
            scored[mode].append(score_query([d.page_content for d in docs], [e["fact"] for e in q["evidence_list"]]))
    found = {}
    for mode, index in indexes.items():
        metrics = mean_metrics(scored[mode])
        found[mode] = {"hits@10": metrics["Hits@10"], "mrr@10": metrics["MRR@10"],
                       "hybrid_p50_ms": round(statistics.median(hybrid[mode]) * 1000, 2),
                       "keyword_p50_ms": round(statistics.median(keyword[mode]) * 1000, 2),
                       "chunks": index.chunk_count()}
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--queries", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()

    from rag.config import Settings
    from rag.embeddings.embedders import make_embeddings
    from rag.eval.retrieval import load_queries
    from rag.store.copy import copy_store
    from rag.store.index import NewsIndex, open_chroma
    from tests.support.postgres import PostgresServer

    rows = load_queries(args.queries, args.limit)
    root = Path(tempfile.mkdtemp(prefix="newsbot-server-bench-"))
    local = shutil.copytree(args.store, root / "embedded")
    settings = Settings(_env_file=None, data_dir=local)
    embeddings = make_embeddings(settings)
    postgres = PostgresServer()
    chroma, port = chroma_server(root / "chroma-server")
    try:
        src = NewsIndex(open_chroma(settings), embeddings, local, 256, settings.chunk_overlap)
        server = settings.model_copy(update={"data_dir": root / "server", "chroma_host": "127.0.0.1",
                                             "chroma_port": port, "database_url": postgres.create_database()})
        dst = NewsIndex(open_chroma(server), embeddings, server.data_dir, 256, settings.chunk_overlap,
                        server.database_url)
        start = time.perf_counter()
        copied = copy_store(src, dst)
        copy_s = time.perf_counter() - start
        start = time.perf_counter()
        dst.keyword.fts.sync()  # what a process's first keyword search does on a new data folder
        mirror_s = time.perf_counter() - start
        found = measure({"embedded": src, "server": dst}, rows)
        embedded, served = found["embedded"], found["server"]
        print(json.dumps({"queries": len(rows), "copied": copied, "copy_s": round(copy_s, 1),
                          "first_mirror_pull_s": round(mirror_s, 2), "embedded": embedded, "server": served,
                          "keyword_p50_ratio": round(served["keyword_p50_ms"] / embedded["keyword_p50_ms"], 2),
                          "hybrid_p50_ratio": round(served["hybrid_p50_ms"] / embedded["hybrid_p50_ms"], 2)}))
    finally:
        chroma.terminate()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
