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


def measure(index, rows: list[dict]) -> dict:
    from rag.eval.retrieval import mean_metrics, score_query
    from rag.retrieval.retriever import NewsRetriever

    search = NewsRetriever(index=index, mode="hybrid", k=10)
    search.warm(wait=True)
    scored, hybrid, keyword = [], [], []
    for q in rows:
        start = time.perf_counter()
        docs = search.search(q["query"], k=10)
        hybrid.append(time.perf_counter() - start)
        start = time.perf_counter()
        index.keyword_search(q["query"], 10, weights=(1.0, 0.0, 1.0), max_df=0.25)
        keyword.append(time.perf_counter() - start)
        scored.append(score_query([d.page_content for d in docs], [e["fact"] for e in q["evidence_list"]]))
    metrics = mean_metrics(scored)
    return {"hits@10": round(metrics["Hits@10"], 4), "mrr@10": round(metrics["MRR@10"], 4),
            "hybrid_p50_ms": round(statistics.median(hybrid) * 1000, 2),
            "keyword_p50_ms": round(statistics.median(keyword) * 1000, 2), "chunks": index.chunk_count()}


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
        embedded, served = measure(src, rows), measure(dst, rows)
        print(json.dumps({"queries": len(rows), "copied": copied, "copy_s": round(copy_s, 1),
                          "embedded": embedded, "server": served,
                          "keyword_p50_ratio": round(served["keyword_p50_ms"] / embedded["keyword_p50_ms"], 2),
                          "hybrid_p50_ratio": round(served["hybrid_p50_ms"] / embedded["hybrid_p50_ms"], 2)}))
    finally:
        chroma.terminate()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
