"""Crash safety at every named point of the store's write path (issue #16), deterministically.

Each case runs one write operation in a child process that dies (`os._exit`) at one named point of
`rag.store.faults`, then checks the store from this process (which never had it open) and re-runs the command:
- every article is in its old version or its new one in each library, never neither and never a mix, and an
  article the operation does not touch keeps its version in every other library;
- every committed chunk has its vector and its keyword row, with its own text;
- `ask` answers as a store that never crashed and holds the same versions;
- after the re-run (and the sweep it starts), the registry, Chroma and FTS5 hold exactly the clean store's chunks.
The children fork from a forkserver that has imported the store once, and embed with a deterministic fake model:
these tests are about ordering, not vectors. docs/reliability.md, "Write protocol", lists the points.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag.articles.article import Article, make_article
from rag.articles.chunking import chunk_article

CRASHED = 86  # the exit code of a child that died at its point
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
QUESTIONS = ["What did Maren Holt do to the lamp?", "When does the ferry Kestrel leave?"]
DEFAULT, SECOND = "default", "second"


def open_index(data: Path):
    """The store in `data`, embedding with a deterministic fake model (every process the same vectors)."""
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from rag.config import Settings
    from rag.store.index import NewsIndex, open_chroma

    settings = Settings(_env_file=None, data_dir=data)
    embeddings = DeterministicFakeEmbedding(size=32)
    return NewsIndex(open_chroma(settings), embeddings, data, CHUNK_TOKENS, 8)


def run_op(data: Path, op: str, crash: tuple[str, int] | None) -> None:
    """The child: install the crash hook, open the store, run the operation."""
    from rag.store import faults

    if crash is not None:
        name, nth = crash
        seen: Counter[str] = Counter()

        def hook(point: str) -> None:
            seen[point] += 1
            if point == name and seen[point] == nth:
                os._exit(CRASHED)

        faults.install(hook)
    index = open_index(data)
    if op == "keep_keyword_copy":
        index.keep_keyword_index((1.0, 0.0, 1.0), 0.25, wait=True)
    else:
        OPS[op](index)


OPS = {
    "setup_b": lambda index: index.ingest([B]),
    "setup_a1_b": lambda index: index.ingest([A1, B]),
    "setup_a1_b_second": lambda index: (index.ingest([A1, B]), index.ingest([A1], library=SECOND)),
    "ingest_new": lambda index: index.ingest([A1]),
    "update": lambda index: index.ingest([A2]),
    "remove": lambda index: index.remove(A1.article_id),
    "add_to_second": lambda index: index.ingest([A1], library=SECOND),  # a version already stored: no embedding
    "remove_from_second": lambda index: index.remove(A1.article_id, library=SECOND),  # "default" still holds it
    "ingest_many": lambda index: index.ingest(MANY, batch_chunks=5),
    "sweep": lambda index: index.ingest([]),
}


def child(data: Path, op: str, crash: tuple[str, int] | None = None) -> int:
    proc = CTX.Process(target=run_op, args=(data, op, crash))
    proc.start()
    proc.join(120)
    assert proc.exitcode is not None, f"{op} hung"
    return proc.exitcode


@dataclass(frozen=True)
class Case:
    op: str  # the operation that crashes (and is re-run)
    point: str
    nth: int = 1
    before: str = "setup_b"  # what the store holds first


def allowed_versions(case: Case) -> dict[tuple[str, str], set[str | None]]:
    """For each (library, article) the operation touches: the versions (content hashes, None = absent) a crash may
    leave; an article in another library must keep its version."""
    a1 = (DEFAULT, A1.article_id)
    if case.op == "ingest_new":
        return {a1: {None, A1.content_hash}}
    if case.op == "update":
        return {a1: {A1.content_hash, A2.content_hash}}
    if case.op == "remove":
        return {a1: {A1.content_hash, None}}
    if case.op == "ingest_many":
        return {(DEFAULT, a.article_id): {None, a.content_hash} for a in MANY}
    if case.op in ("add_to_second", "remove_from_second"):
        return {a1: {A1.content_hash}, (SECOND, A1.article_id): {None, A1.content_hash}}
    return {}


CASES = [
    *(Case("ingest_new", p) for p in ("vectors.generation_bumped", "ingest.embedded", "ingest.journalled",
                                       "ingest.vectors_upserted", "ingest.new_rows_inserted", "library.held",
                                       "ingest.old_rows_deleted", "ingest.before_commit", "ingest.committed")),
    *(Case("update", p, before="setup_a1_b") for p in (
        "ingest.embedded", "ingest.vectors_upserted", "ingest.old_rows_deleted", "ingest.before_commit",
        "ingest.committed", "ingest.old_vectors_deleted")),
    *(Case("update", p, before="setup_a1_b") for p in ("ingest.journalled", "ingest.new_rows_inserted",
                                                        "library.held")),
    *(Case("remove", p, before="setup_a1_b") for p in ("library.released", "remove.before_commit",
                                                        "remove.committed", "remove.vectors_deleted")),
    # the two library operations (issue #12): an article already stored goes into a second library, and leaves it
    *(Case("add_to_second", p, before="setup_a1_b") for p in (
        "ingest.embedded", "library.held", "ingest.old_rows_deleted", "ingest.before_commit", "ingest.committed")),
    *(Case("remove_from_second", p, before="setup_a1_b_second") for p in (
        "library.released", "remove.before_commit", "remove.committed")),
    # in the middle of a multi-batch ingest: the second of three batches
    *(Case("ingest_many", p, 2) for p in ("ingest.embedded", "ingest.vectors_upserted", "ingest.before_commit",
                                          "ingest.committed")),
    Case("sweep", "sweep.deleted", before="orphans"),
    Case("keep_keyword_copy", "keyword.building", before="setup_a1_b"),
]


# ---- reading a store from outside --------------------------------------------------------------


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


def answers(data: Path) -> list[dict]:
    """What `ask` says to each question, through the real chain and the offline stub."""
    from chromadb.api.shared_system_client import SharedSystemClient

    from rag.answering.query import Query
    from rag.config import Settings
    from rag.answering.models import ExtractiveStubModel
    from rag.services import Services

    SharedSystemClient._identifier_to_system.pop(str(data / "chroma"), None)
    services = Services(settings=Settings(_env_file=None, data_dir=data), index=open_index(data),
                        llm=ExtractiveStubModel())
    try:
        return [services.ask(Query(q, libraries=(library,))).to_dict() for q in QUESTIONS
                for library in (DEFAULT, SECOND)]
    finally:
        services.index.db.close()
        SharedSystemClient._identifier_to_system.pop(str(data / "chroma"), None)


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


# ---- reference stores, built once ---------------------------------------------------------------


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Clean stores: each starting state, each state after each operation, and one per set of versions."""
    root = tmp_path_factory.mktemp("crash-points")
    made: dict[str, Path] = {}

    def state(name: str, *ops: str) -> Path:
        if name not in made:
            path = root / name
            for op in ops:
                assert child(path, op) == 0, (name, op)
            made[name] = path
        return made[name]

    def before(name: str) -> Path:
        if name == "orphans":  # vectors written, registry never committed: what a killed ingest leaves
            if "orphans" not in made:
                path = shutil.copytree(state("setup_b", "setup_b"), root / "orphans")
                assert child(path, "ingest_new", ("ingest.before_commit", 1)) == CRASHED
                made["orphans"] = path
            return made["orphans"]
        return state(name, name)

    def after(case: Case) -> Path:
        start = {"orphans": "setup_b"}.get(case.before, case.before)
        if case.op in ("sweep", "keep_keyword_copy"):
            return state(f"{start}+sweep", start, "sweep")
        return state(f"{start}+{case.op}", start, case.op)

    def holding(versions: dict[tuple[str, str], str]) -> Path:
        """A store that never crashed whose libraries hold exactly these versions."""
        key = "v-" + "-".join(sorted(f"{library}{h[:8]}" for (library, _), h in versions.items()))
        if key not in made:
            path = root / key
            index = open_index(path)
            known = by_hash()
            for library in sorted({library for library, _ in versions}):
                assert index.ingest([known[h] for (lib, _), h in versions.items() if lib == library],
                                    library=library).ok
            index.db.close()
            made[key] = path
        return made[key]

    return before, after, holding


# ---- the matrix ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.op}@{c.point}#{c.nth}")
def test_a_crash_at_each_point_leaves_old_or_new_and_a_rerun_converges(case, stores, tmp_path):
    before, after, holding = stores
    data = shutil.copytree(before(case.before), tmp_path / "store")

    assert child(data, case.op, (case.point, case.nth)) == CRASHED, f"{case.point} was never reached"
    reg = assert_consistent(data, allowed_versions(case))
    assert answers(data) == answers(holding(reg["versions"])), "ask differs from a clean store of these versions"

    rerun = "sweep" if case.op == "keep_keyword_copy" else case.op
    assert child(data, rerun) == 0
    if case.op == "remove":
        assert child(data, "sweep") == 0  # remove sweeps nothing itself; the next ingest does
    clean = after(case)
    got, want = registry(data), registry(clean)
    assert got["versions"] == want["versions"]
    assert set(got["chunks"]) == set(want["chunks"]) == set(got["fts"]) == set(vectors(data)) == set(vectors(clean))
    assert answers(data) == answers(clean)
