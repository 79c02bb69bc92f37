"""The write protocol on PostgreSQL and a Chroma server: a writer killed at a named point leaves each article in its
old version or its new one, every committed chunk with its vector, and a re-run converges (a subset of
test_crash_points.py's matrix, in server mode)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from tests.support.crash_points import A1, A2, B, CTX, open_server_index

pytestmark = pytest.mark.slow  # PostgreSQL, `chroma run` and a child process per crash point

CRASHED = 86


SECOND = "second"
OPS = {
    "setup": lambda index: index.ingest([A1, B]),
    "setup_b": lambda index: index.ingest([B]),
    "setup_second": lambda index: (index.ingest([A1, B]), index.ingest([A1], library=SECOND)),
    "ingest_new": lambda index: index.ingest([A1]),
    "add_to_second": lambda index: index.ingest([A1], library=SECOND),  # a version already stored
    "remove_from_second": lambda index: index.remove(A1.article_id, library=SECOND),
    "update": lambda index: index.ingest([A2]),
    "remove": lambda index: index.remove(A1.article_id),
    "sweep": lambda index: index.ingest([]),
}


def run_op(data: Path, url: str, port: int, op: str, crash: str | None) -> None:
    from rag.store import faults

    if crash is not None:
        seen: Counter[str] = Counter()

        def hook(point: str) -> None:
            seen[point] += 1
            if point == crash:
                os._exit(CRASHED)

        faults.install(hook)
    OPS[op](open_server_index(data, url, port))


def child(data: Path, url: str, port: int, op: str, crash: str | None = None) -> int:
    proc = CTX.Process(target=run_op, args=(data, url, port, op, crash))
    proc.start()
    proc.join(120)
    assert proc.exitcode is not None, f"{op} hung"
    return proc.exitcode


def held_and_consistent(data: Path, url: str, port: int, library: str = "default") -> tuple[str | None, set[str]]:
    """A1's content hash held by the library; asserts every committed chunk has its vector and its row in a fresh
    keyword mirror."""
    index = open_server_index(data, url, port)
    held = index.db.execute("SELECT v.content_hash FROM library_articles m JOIN versions v USING (version_id) "
                            "WHERE m.article_id=? AND m.library=?", (A1.article_id, library)).fetchone()
    committed = {r[0] for r in index.db.execute("SELECT chunk_id FROM chunks")}
    assert committed <= set(index.vectors.ids(sorted(committed))), "a committed chunk without its vector"
    mirrored = {r[0] for r in index.keyword.fts.reader().execute("SELECT chunk_id FROM chunks")}
    assert mirrored == committed, "the keyword mirror differs from the registry"
    index.db.close()
    return (held[0] if held else None), committed


# (operation, point, setup, library watched, A1's versions a crash may leave there, A1's version after a re-run)
OLD, NEW = A1.content_hash, A2.content_hash
CASES = [
    *(("ingest_new", p, "setup_b", "default", {None, OLD}, OLD) for p in (
        "ingest.journalled", "ingest.vectors_upserted", "ingest.new_rows_inserted", "ingest.before_commit",
        "ingest.committed")),
    *(("update", p, "setup", "default", {OLD, NEW}, NEW) for p in (
        "ingest.journalled", "ingest.vectors_upserted", "ingest.before_commit",
        "ingest.committed", "ingest.old_vectors_deleted")),
    *(("remove", p, "setup", "default", {OLD, None}, None) for p in (
        "library.released", "remove.before_commit", "remove.committed", "remove.vectors_deleted")),
    *(("add_to_second", p, "setup", SECOND, {None, OLD}, OLD) for p in ("library.held", "ingest.before_commit")),
    *(("remove_from_second", p, "setup_second", SECOND, {OLD, None}, None) for p in (
        "library.released", "remove.before_commit")),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}@{c[1]}" for c in CASES])
def test_a_writer_killed_at_each_point_leaves_old_or_new_and_a_rerun_converges(case, tmp_path, postgres_url,
                                                                              chroma_server):  # noqa: F811
    op, point, setup, library, allowed, final = case
    data, port = tmp_path / "machine", chroma_server
    assert child(data, postgres_url, port, setup) == 0

    assert child(data, postgres_url, port, op, point) == CRASHED, f"{point} was never reached"
    held, _ = held_and_consistent(data, postgres_url, port, library)
    assert held in allowed
    if library != "default":  # the other library keeps its version
        assert held_and_consistent(data, postgres_url, port)[0] == OLD

    assert child(data, postgres_url, port, op) == 0 and child(data, postgres_url, port, "sweep") == 0
    held, committed = held_and_consistent(tmp_path / "another-machine", postgres_url, port, library)
    assert held == final
    index = open_server_index(tmp_path / "another-machine", postgres_url, port)
    assert set(index.vectors.ids()) == committed  # nothing orphaned, nothing missing
