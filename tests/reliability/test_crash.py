"""Reliability, crash safety (issue #6, item 2): kill -9 mid-ingest then re-run equals a clean ingest, a half-written
article is never retrievable, and an ingest running beside asks (other processes) corrupts nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rag.answering.query import Query
from rag.articles.article import make_article
from rag.articles.loaders import load_paths
from rag.articles.chunking import chunk_article
from rag.retrieval.retriever import NewsRetriever

from tests.conftest import MULTIHOP, SEEDS
from tests.support.cli import NEWSBOT, assert_consistent, env_for, good, newsbot

pytestmark = pytest.mark.slow  # newsbot processes, killed mid-ingest

RECORDS, BODY_CHARS, BATCH = 40, 1500, "8"


def registry_ids(data: Path) -> set[str]:
    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        return {r[0] for r in db.execute("SELECT chunk_id FROM chunks")}


def chroma_ids(data: Path) -> set[str]:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(data / "chroma"), settings=Settings(anonymized_telemetry=False))
    return {i for c in client.list_collections() for i in client.get_collection(c.name).get(include=[])["ids"]}


def committed_articles(data: Path) -> int:
    try:
        with sqlite3.connect(f"file:{data / 'newsbot.sqlite3'}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM versions").fetchone()[0]
    except sqlite3.Error:
        return 0  # not created yet


@pytest.fixture(scope="module")
def feed(tmp_path_factory) -> Path:
    """The first MultiHop-RAG records, bodies cut short so the test stays quick (written at test time only)."""
    if not (MULTIHOP / "corpus.json").exists():
        pytest.skip("needs ../shared/eval/multihop-rag")
    records = json.loads((MULTIHOP / "corpus.json").read_text(encoding="utf-8"))[:RECORDS]
    path = tmp_path_factory.mktemp("feed") / "multihop.jsonl"
    path.write_text("".join(json.dumps(r | {"body": r["body"][:BODY_CHARS]}) + "\n" for r in records),
                    encoding="utf-8")
    return path


def test_kill_9_mid_ingest_then_rerun_equals_a_clean_ingest(tmp_path, feed):
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    newsbot("ingest", str(feed), data=clean, NEWSBOT_INGEST_BATCH_CHUNKS=BATCH)
    want = json.loads(newsbot("stats", "--json", data=clean).stdout)
    assert want["articles"] == RECORDS

    proc = subprocess.Popen([str(NEWSBOT), "ingest", str(feed)], env=env_for(crashed, NEWSBOT_INGEST_BATCH_CHUNKS=BATCH),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while committed_articles(crashed) == 0 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    at_crash = committed_articles(crashed)
    assert proc.returncode == -signal.SIGKILL and 0 < at_crash < RECORDS, at_crash
    assert_consistent_committed(crashed)

    newsbot("ingest", str(feed), data=crashed, NEWSBOT_INGEST_BATCH_CHUNKS=BATCH)

    got = json.loads(newsbot("stats", "--json", data=crashed).stdout)
    assert {**got, "data_dir": None} == {**want, "data_dir": None}
    assert registry_ids(crashed) == chroma_ids(crashed) == registry_ids(clean) == chroma_ids(clean)


def assert_consistent_committed(data: Path) -> None:
    """After a crash: every committed article has all its chunks; vectors may hold extra (orphaned) ids."""
    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        short = db.execute("SELECT COUNT(*) FROM versions v WHERE n_chunks != "
                           "(SELECT COUNT(*) FROM chunks c WHERE c.version_id = v.version_id)").fetchone()[0]
    assert short == 0
    assert registry_ids(data) <= chroma_ids(data)


def test_a_half_ingested_article_is_never_retrievable_and_the_next_ingest_sweeps_it(services):
    services.index.ingest(load_paths([SEEDS]))
    ghost = make_article(title="Ghost ship sighted", body="The ghost ship Zephyrine drifted into the harbour "
                         "of Valparaiso at dawn, its sails torn.", origin="test", published="2024-11-12")
    chunks = chunk_article(ghost, 256, 32)
    # Ids journalled, vectors written, registry row never committed: what a kill between the steps leaves behind.
    vectors = services.index.embeddings.embed_documents([c.text for c in chunks])
    with services.index.db:
        services.index.registry.journal_add([c.chunk_id for c in chunks])
    services.index.vectors.upsert([c.chunk_id for c in chunks], vectors, [c.metadata for c in chunks],
                                  [c.text for c in chunks])
    question = "ghost ship Zephyrine Valparaiso harbour"
    assert services.index.dense_search(question, 1)[0][0] == chunks[0].chunk_id  # the vector is there...

    for mode in ("dense", "bm25", "hybrid"):
        docs = NewsRetriever(index=services.index, k=10, mode=mode).invoke(question)
        assert ghost.article_id not in {d.metadata["article_id"] for d in docs}  # ...but never shown
    assert "Zephyrine" not in services.ask(Query(question)).answer

    services.index.ingest([])
    assert services.index.vectors.count() == services.index.stats()["chunks"]
    assert not services.index.vectors.ids([c.chunk_id for c in chunks])


WRITER = """
import sys
from rag.articles.article import make_article
from rag.config import Settings
from rag.services import build_services
index = build_services(Settings()).index
for i in range(int(sys.argv[1])):
    article = make_article(title=f"Harbour report {i}", body=f"Ship {i} docked at pier {i}. " * 3,
                           origin="writer", published="2024-03-01")
    index.ingest([article], batch_chunks=1)
    if i % 5 == 4:
        index.remove(article.article_id)
print("writer done")
"""

READER = """
import json, os, sys, time
from rag.answering.query import Query
from rag.config import Settings
from rag.services import build_services
services = build_services(Settings())  # one long-lived process, like the bot
asks = errors = 0
stray = []
deadline = time.time() + 300
while time.time() < deadline and not (os.path.exists(sys.argv[1]) and (asks >= 3 or errors >= 20)):
    try:
        # A date filter makes Chroma match ids in its metadata store, where a stale index used to fail.
        answer = services.ask(Query("Which ship docked at which pier?", since=20240101))
        known = {a.article_id for a in services.index.list_articles()}
        stray += [c.article_id for c in answer.citations if c.article_id not in known]
        asks += 1
    except Exception as exc:
        errors += 1
        print(type(exc).__name__, exc, file=sys.stderr)
print(json.dumps({"asks": asks, "errors": errors, "stray": stray}))
"""


def test_an_ingest_beside_asks_in_other_processes_corrupts_nothing(tmp_path):
    data = tmp_path / "store"
    newsbot("ingest", str(SEEDS), data=data)
    done = tmp_path / "writer-done"
    env = env_for(data)
    reader = subprocess.Popen([sys.executable, "-c", textwrap.dedent(READER), str(done)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writer = subprocess.run([sys.executable, "-c", textwrap.dedent(WRITER), "30"], env=env,
                            capture_output=True, text=True, timeout=600)
    done.touch()
    out, err = reader.communicate(timeout=600)

    assert writer.returncode == 0 and "writer done" in writer.stdout, writer.stderr
    report = json.loads(out.strip().splitlines()[-1])
    assert report["errors"] == 0 and report["asks"] >= 3 and report["stray"] == [], err
    assert_consistent(data, 2 + 30 - 6)


def test_cli_ingest_and_cli_asks_run_side_by_side(tmp_path):
    data = tmp_path / "store"
    newsbot("ingest", str(SEEDS), data=data)
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(120):
        (folder / f"{i:03d}.txt").write_text(good(i), encoding="utf-8")
    ingest = subprocess.Popen([str(NEWSBOT), "ingest", str(folder)], env=env_for(data, NEWSBOT_INGEST_BATCH_CHUNKS="4"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    asks = []
    while ingest.poll() is None or len(asks) < 2:
        asks.append(newsbot("ask", "What did Trump warn Putin about?", "--json", data=data))
    ingest.communicate()

    assert ingest.returncode == 0
    assert all(json.loads(p.stdout)["citations"] for p in asks)
    assert_consistent(data, 122)
