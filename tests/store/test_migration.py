"""A store written before libraries (schema 1) opens in place: every article lands in `default`, every vector keeps
its id, nothing is embedded again, and a migration that fails half-way leaves the old store as it was."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import pytest

from rag.answering.query import Query
from rag.articles.loaders import load_paths
from rag.articles.chunking import chunk_article
from rag.embeddings.embedders import LocalMiniLMEmbeddings
from rag.retrieval.retriever import NewsRetriever
from rag.store import schema
from rag.text import date_to_int

from tests.conftest import SEEDS, make_settings

# The registry schema as main wrote it before libraries (rag/store/index.py at e39b29b), and its collection name.
V1_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    article_id TEXT PRIMARY KEY, title TEXT NOT NULL, source TEXT, published INTEGER NOT NULL,
    url TEXT, content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL, origin TEXT, ingested_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS articles_published ON articles (published DESC);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, chunk_id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_article ON chunks (article_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, source, body, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts_vocab USING fts5vocab(chunks_fts, 'row');
"""
V1_COLLECTION = "news-all-MiniLM-L6-v2-int8-onnx"


def write_v1_store(data: Path) -> list[str]:
    """The seeds written exactly as the schema-1 store did, with its `article:index` chunk ids (those written
    after e39b29b name their version too, and migrate the same way); returns the chunk ids."""

    import chromadb
    from chromadb.config import Settings

    embeddings = LocalMiniLMEmbeddings()
    data.mkdir(parents=True)
    db = sqlite3.connect(data / "newsbot.sqlite3")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(V1_SCHEMA)
    client = chromadb.PersistentClient(path=str(data / "chroma"), settings=Settings(anonymized_telemetry=False))
    collection = client.get_or_create_collection(
        V1_COLLECTION, metadata={"hnsw:space": "cosine", "embedding_model": embeddings.model_id})
    ids = []
    with db:
        db.execute("INSERT INTO meta VALUES ('embedding_model', ?)", (embeddings.model_id,))
        for article in load_paths([SEEDS]):
            chunks = [dataclasses.replace(c, chunk_id=f"{article.article_id}:{c.index:04d}")
                      for c in chunk_article(article)]
            collection.add(ids=[c.chunk_id for c in chunks], metadatas=[c.metadata for c in chunks],
                           embeddings=embeddings.embed_documents([c.text for c in chunks]),
                           documents=[c.text for c in chunks])
            db.execute("INSERT INTO articles VALUES (?,?,?,?,?,?,?,?,?)", (
                article.article_id, article.title, article.source, date_to_int(article.published), article.url,
                article.content_hash, len(chunks), article.origin, time.time()))
            for c in chunks:
                cur = db.execute("INSERT INTO chunks (chunk_id, article_id, chunk_index, start, end, text) "
                                 "VALUES (?,?,?,?,?,?)", (c.chunk_id, c.article_id, c.index, c.start, c.end, c.text))
                db.execute("INSERT INTO chunks_fts (rowid, title, source, body) VALUES (?,?,?,?)",
                           (cur.lastrowid, article.title, article.source or "", c.text))
            ids += [c.chunk_id for c in chunks]
    db.close()
    return ids


@pytest.fixture
def v1(tmp_path) -> Path:
    data = tmp_path / "v1"
    write_v1_store(data)
    return data


def test_a_schema_1_store_opens_in_place_with_its_articles_in_default(v1, monkeypatch):
    from rag.services import build_services

    with sqlite3.connect(v1 / "newsbot.sqlite3") as db:
        old_ids = sorted(r[0] for r in db.execute("SELECT chunk_id FROM chunks"))
        old_articles = {r[0]: r[1] for r in db.execute("SELECT article_id, title FROM articles")}
    monkeypatch.setattr(LocalMiniLMEmbeddings, "embed_documents",
                        lambda self, texts: pytest.fail("a migrated store embedded its chunks again"))

    services = build_services(make_settings(v1))

    assert services.libraries() == [{"library": "default", "articles": 2, "chunks": len(old_ids)}]
    assert {a.article_id: a.title for a in services.list_articles()} == old_articles
    assert sorted(r[0] for r in services.index.db.execute("SELECT chunk_id FROM chunks")) == old_ids
    assert sorted(services.index.vectors.ids()) == old_ids and services.index.vectors.name == V1_COLLECTION
    answer = services.ask(Query("What did Trump warn Putin about?"))
    assert len({c.article_id for c in answer.citations}) == 2
    for mode in ("dense", "bm25"):  # both indexes still find the old rows under their old ids
        docs = NewsRetriever(index=services.index, k=3, mode=mode, libraries=("default",)).invoke(
            "Trump warned Putin about Ukraine")
        assert docs and {d.metadata["chunk_id"] for d in docs} <= set(old_ids), mode
    assert services.ingest(load_paths([SEEDS])).unchanged == list(old_articles)  # same content: nothing to do


def test_a_migrated_article_is_updated_and_removed_like_any_other(v1, seeds_copy):
    from rag.services import build_services

    services = build_services(make_settings(v1))
    path = seeds_copy / "002_dd306845dcd00731.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("Washington", "Zanzibar"), encoding="utf-8")
    [changed] = [a for a in load_paths([path])]
    old = {c.chunk_id for c in services.index.version_chunks(changed.article_id)}  # migrated: version id = article id
    assert old and all(i.count(":") == 1 for i in old)

    assert services.ingest([changed]).updated == [changed.article_id]
    [new] = [a for a in services.list_articles() if a.article_id == changed.article_id]
    texts = [c.text for c in services.index.version_chunks(new.version_id)]
    assert any("Zanzibar" in t for t in texts)
    stored = set(services.index.vectors.ids())
    assert not old & stored and {c.chunk_id for c in services.index.version_chunks(new.version_id)} <= stored
    assert services.remove(changed.article_id)
    assert services.index.vectors.count() == services.stats()["chunks"] == \
        services.index.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]


def test_a_migration_that_fails_half_way_leaves_the_old_store(v1, monkeypatch):
    from rag.services import build_services

    failing = [*schema.MIGRATE_1_TO_2, "INSERT INTO no_such_table VALUES (1)"]  # fails after every other step
    monkeypatch.setattr(schema, "MIGRATE_1_TO_2", failing)
    with pytest.raises(sqlite3.OperationalError):
        build_services(make_settings(v1))
    with sqlite3.connect(v1 / "newsbot.sqlite3") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "articles" in tables and "versions" not in tables and "library_articles" not in tables
        assert db.execute("SELECT COUNT(*) FROM chunks WHERE article_id IS NOT NULL").fetchone()[0] > 0

    monkeypatch.undo()
    services = build_services(make_settings(v1))  # the next open migrates
    assert services.stats()["articles"] == 2


def test_a_store_from_a_newer_newsbot_is_refused(tmp_path):
    from rag.errors import StoreError
    from rag.services import build_services

    settings = make_settings(tmp_path / "s")
    build_services(settings).index.db.execute("UPDATE meta SET value='99' WHERE key='schema_version'").connection.commit()
    with pytest.raises(StoreError, match="newer newsbot"):
        build_services(settings)
