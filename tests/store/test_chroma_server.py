"""Server mode: the same pipeline against a real `chroma run` on 127.0.0.1, chosen by host and port settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.answering.query import Query
from rag.articles.loaders import load_paths

from tests.conftest import SEEDS, make_settings

pytestmark = pytest.mark.slow  # a `chroma run` server process (tests/support/chroma.py)


def test_ingest_and_ask_through_a_chroma_server(tmp_path, chroma_server):
    from rag.services import build_services

    settings = make_settings(tmp_path / "local", chroma_host="127.0.0.1", chroma_port=chroma_server)
    services = build_services(settings)
    services.index.ingest(load_paths([SEEDS]))

    answer = services.ask(Query("What did Trump warn Putin about?"))

    assert len({c.article_id for c in answer.citations}) == 2
    assert not (tmp_path / "local" / "chroma").exists()  # the vectors live on the server
    assert (tmp_path / "server").exists()
    assert services.index.vectors.count() == services.index.stats()["chunks"]


def _server_store(path: Path, port: int, collection: str | None = None):
    """Services on a store whose vectors live on the server; `collection` forces a collection name, as a store
    created before per-store collections has (it shares `news-<model>` with every such store on the server)."""
    import sqlite3

    from rag.services import build_services

    if collection:
        path.mkdir(parents=True)
        with sqlite3.connect(path / "newsbot.sqlite3") as db:
            db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            db.execute("INSERT INTO meta VALUES ('collection', ?)", (collection,))
    return build_services(make_settings(path, chroma_host="127.0.0.1", chroma_port=port))


def _quokka():
    from rag.articles.article import make_article

    return make_article(title="Quokka sanctuary opens on Rottnest", origin="test", source="Coast Wire",
                        published="2024-05-02", body="A quokka sanctuary with 40 enclosures opened on Rottnest "
                        "Island on Tuesday, rangers said. The sanctuary cost 12 million dollars.")


def _intact(services) -> None:
    """Every committed chunk of the store has its vector on the server, and asking still cites both seeds."""
    committed = {r[0] for r in services.index.db.execute("SELECT chunk_id FROM chunks")}
    assert committed <= set(services.index.vectors.ids(sorted(committed)))
    assert len({c.article_id for c in services.ask(Query("What did Trump warn Putin about?")).citations}) == 2


def test_two_stores_on_one_server_never_delete_each_others_vectors(tmp_path, chroma_server):
    a, b = (_server_store(tmp_path / name, chroma_server) for name in ("a", "b"))
    assert a.ingest(load_paths([SEEDS])).ok and b.ingest([*load_paths([SEEDS]), _quokka()]).ok
    assert a.index.vectors.name != b.index.vectors.name

    seed = a.list_articles()[0].article_id
    assert a.remove(seed) and a.ingest([_quokka()]).ok and a.remove(_quokka().article_id)  # removes, sweeps
    a.index.sweep_orphans()

    _intact(b)
    assert b.index.vectors.count() == b.stats()["chunks"]
    assert a.index.vectors.count() == a.stats()["chunks"]


def test_stores_that_share_a_legacy_collection_sweep_only_what_they_wrote(tmp_path, chroma_server):
    shared = "news-all-MiniLM-L6-v2-int8-onnx"
    a, b = (_server_store(tmp_path / name, chroma_server, shared) for name in ("a", "b"))
    assert a.index.vectors.name == b.index.vectors.name == shared
    assert b.ingest([*load_paths([SEEDS]), _quokka()]).ok  # vectors A's registry knows nothing about

    with a.index.db:  # A was killed after writing a vector it never committed
        a.index.registry.journal_add(["ghost:0000"])
    a.index.vectors.upsert(["ghost:0000"], a.index.embeddings.embed_documents(["a ghost"]), [{"title": "g"}],
                           ["a ghost"])
    assert a.ingest(load_paths([SEEDS])).ok  # the ingest's sweep runs first

    assert not a.index.vectors.ids(["ghost:0000"])
    _intact(b)
    assert b.index.vectors.ids([f"{v.version_id}:0000" for v in b.list_articles()])
