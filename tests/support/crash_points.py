"""The tiny articles the crash-point children write and the checks that read their store from outside, shared by
tests/store/test_crash_points.py, tests/store/test_backup.py and tests/store/test_privacy.py."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

from rag.articles.chunking import chunk_article
from rag.articles.article import Article, make_article

CHUNK_TOKENS = 40
CTX = multiprocessing.get_context("forkserver")
CTX.set_forkserver_preload(["rag.store.index", "rag.services", "rag.answering.models", "rag.articles.chunking", "chromadb"])


def article(title: str, fact: str, version: int = 1, outlet: str = "Harbour Gazette") -> Article:
    """A tiny article of a few chunks; `version` changes its text (same url, so the same article id)."""
    sentences = [f"{fact} (edition {version}, paragraph {i})." for i in range(1, 7)]
    body = " ".join(sentences) + f" The port authority confirmed the {title.lower()} report in edition {version}."
    return make_article(title=title, body=body, source=outlet, published="2024-11-12",
                        url=f"https://news.example/{title.lower().replace(' ', '-')}", origin="test")


A1 = article("Lighthouse repairs", "The lighthouse keeper Maren Holt repaired the lamp with a brass gear")
A2 = article("Lighthouse repairs", "The lighthouse keeper Maren Holt replaced the whole lamp with an LED array", 2)
B = article("Ferry timetable", "The ferry Kestrel now leaves the north pier at seven every morning")
MANY = [article(f"Dock report {i}", f"Crane {i} moved {i * 3} containers from berth {i}") for i in range(6)]


def open_index(data: Path):
    """The store in `data`, embedding with a deterministic fake model (every process the same vectors)."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from rag.config import Settings
    from rag.store.index import NewsIndex, open_chroma

    settings = Settings(_env_file=None, data_dir=data)
    embeddings = DeterministicFakeEmbedding(size=32)
    return NewsIndex(open_chroma(settings), embeddings, data, CHUNK_TOKENS, 8)


def registry(data: Path) -> dict:
    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        return {
            "versions": {(r[0], r[1]): r[2] for r in db.execute(  # what each library holds
                "SELECT m.library, m.article_id, v.content_hash FROM library_articles m JOIN versions v "
                "USING (version_id)")},
            "stored": {r[0]: r[1] for r in db.execute("SELECT version_id, content_hash FROM versions")},
            "held": {r[0] for r in db.execute("SELECT version_id FROM library_articles")},
            "chunks": {r[0]: (r[1], r[2]) for r in db.execute("SELECT chunk_id, version_id, text FROM chunks")},
            "fts": dict(db.execute("SELECT c.chunk_id, f.body FROM chunks_fts f JOIN chunks c ON c.rowid = f.rowid")),
            "fts_rows": db.execute("SELECT COUNT(*) FROM chunks_fts").fetchone()[0],
            "n_chunks": dict(db.execute("SELECT version_id, n_chunks FROM versions")),
        }


def vectors(data: Path) -> dict[str, str]:
    """chunk id -> stored document, read through a client of this process's own (never the cached one)."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings

    path = str(data / "chroma")
    SharedSystemClient._identifier_to_system.pop(path, None)
    client = chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    found: dict[str, str] = {}
    for c in client.list_collections():
        got = client.get_collection(c.name).get(include=["documents"])
        found.update(zip(got["ids"], got["documents"]))
    SharedSystemClient._identifier_to_system.pop(path, None)
    return found


def by_hash() -> dict[str, Article]:
    return {a.content_hash: a for a in (A1, A2, B, *MANY)}


def assert_consistent(data: Path, allowed: dict[tuple[str, str], set[str | None]]) -> dict:
    """The promises that hold right after a crash (before any sweep)."""
    reg, vecs = registry(data), vectors(data)
    for held, versions in allowed.items():
        assert reg["versions"].get(held) in versions, (held, reg["versions"].get(held))
    assert set(reg["stored"]) == reg["held"], "a stored version no library holds, or a library holding nothing"
    known = by_hash()
    for version_id, content_hash in reg["stored"].items():  # never a mix: the chunks are exactly this version's
        want = {c.chunk_id: (version_id, c.text) for c in chunk_article(known[content_hash], CHUNK_TOKENS, 8)}
        got = {cid: row for cid, row in reg["chunks"].items() if row[0] == version_id}
        assert got == want, version_id
        assert reg["n_chunks"][version_id] == len(want)
    for cid, (_, text) in reg["chunks"].items():  # every committed chunk has its vector and keyword row
        assert vecs.get(cid) == text, f"committed chunk {cid} has no vector with its text"
        assert reg["fts"].get(cid) == text, f"committed chunk {cid} has no keyword row"
    assert reg["fts_rows"] == len(reg["chunks"]), "a keyword row without its chunk"
    return reg


def open_server_index(data: Path, url: str, port: int):
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from rag.config import Settings
    from rag.store.index import NewsIndex, open_chroma

    settings = Settings(_env_file=None, data_dir=data, database_url=url, chroma_host="127.0.0.1", chroma_port=port)
    return NewsIndex(open_chroma(settings), DeterministicFakeEmbedding(size=32), data, CHUNK_TOKENS, 8, url)
