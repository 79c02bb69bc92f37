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

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.crash_points import (A1, A2, B, CTX, MANY, assert_consistent, by_hash,
                                        open_index, registry, vectors)

pytestmark = pytest.mark.slow  # a child process per crash point

CRASHED = 86  # the exit code of a child that died at its point


QUESTIONS = ["What did Maren Holt do to the lamp?", "When does the ferry Kestrel leave?"]
DEFAULT, SECOND = "default", "second"


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
