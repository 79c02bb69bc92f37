"""`newsbot backup` / `restore` (issue #15, item 5): a snapshot taken while the store is in use restores to the
same store; a backup taken during another process's ingest holds whole versions; restore refuses what it should
and never loses the store it replaces."""

from __future__ import annotations

import fcntl
import json
import threading
from pathlib import Path

import pytest

from rag.errors import StoreError
from rag.store.backup import backup, restore

from .conftest import SEEDS
from .test_cli import HEAVY, imported_by, run
from .test_crash_points import A1, A2, B, CTX, assert_consistent, open_index, registry

MODEL = "DeterministicFakeEmbedding"  # what the stores open_index builds record as their embedding model


def without_dir(stats: str) -> dict:
    found = json.loads(stats)
    found.pop("data_dir")
    return found


def test_backup_then_restore_gives_the_same_stats_and_answer(tmp_path):
    """The seeds' store is backed up, restored into a fresh data folder: the same numbers and
    the same cited answer."""
    question = "What did Trump warn Putin about?"
    store = tmp_path / "store"
    run("ingest", str(SEEDS), env_dir=store)
    _, loaded = imported_by("backup", str(tmp_path / "snap"), env_dir=store)  # files and SQLite only: answers at once
    assert not loaded & HEAVY
    fresh = tmp_path / "fresh"
    _, loaded = imported_by("restore", str(tmp_path / "snap"), env_dir=fresh)
    assert not loaded & HEAVY
    assert without_dir(run("stats", "--json", env_dir=fresh).stdout) == without_dir(
        run("stats", "--json", env_dir=store).stdout)
    restored = json.loads(run("ask", question, "--json", env_dir=fresh).stdout)
    assert restored == json.loads(run("ask", question, "--json", env_dir=store).stdout)
    assert len({c["article_id"] for c in restored["citations"]}) == 2  # both seeds cited

    again = run("backup", str(tmp_path / "snap"), env_dir=store, check_code=1)  # DIR exists: nothing written
    assert "already exists" in again.stderr
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == ["chroma", "manifest.json", "newsbot.sqlite3"]


def ingest_paused(data: Path, paused, go) -> None:
    """The child: update A1 to A2 and add B, stopping mid-write (vectors upserted, nothing committed) until `go`."""
    from rag.store import faults

    def hook(point: str) -> None:
        if point == "ingest.vectors_upserted":
            paused.set()
            go.wait(60)

    faults.install(hook)
    open_index(data).ingest([A2, B])


def test_a_backup_during_an_ingest_holds_whole_versions_and_every_vector(tmp_path):
    data = tmp_path / "store"
    open_index(data).ingest([A1])
    before = backup(data, tmp_path / "before")  # nothing running: A1 alone
    paused, go = CTX.Event(), CTX.Event()
    proc = CTX.Process(target=ingest_paused, args=(data, paused, go))
    proc.start()
    assert paused.wait(120), "the ingest never reached its write"

    waiting, done, failure = threading.Event(), {}, []

    def take() -> None:
        try:
            done["manifest"] = backup(data, tmp_path / "during", on_wait=waiting.set)
        except BaseException as exc:  # pragma: no cover - reported below
            failure.append(exc)
            waiting.set()

    taker = threading.Thread(target=take)
    taker.start()
    assert waiting.wait(60) and not failure  # the backup found the ingest mid-write and waits for it
    go.set()
    taker.join(120)
    proc.join(120)
    assert proc.exitcode == 0 and not failure

    assert before["store"] == {"articles": 1, "chunks": before["store"]["chunks"]}
    reg = assert_consistent(tmp_path / "before", {("default", A1.article_id): {A1.content_hash}})
    assert ("default", B.article_id) not in reg["versions"]
    # the ingest finished before the copy began: A2 and B, each whole, every chunk with its vector
    reg = assert_consistent(tmp_path / "during", {("default", A1.article_id): {A2.content_hash},
                                                  ("default", B.article_id): {B.content_hash}})
    assert done["manifest"]["store"]["articles"] == 2
    assert registry(tmp_path / "during")["versions"] == registry(data)["versions"]


def test_restore_refuses_a_folder_that_is_not_a_backup_and_a_busy_store(tmp_path):
    data = tmp_path / "store"
    open_index(data).ingest([A1])
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(StoreError, match="not a newsbot backup"):
        restore(tmp_path / "junk", tmp_path / "other", MODEL)
    backup(data, tmp_path / "snap")
    with pytest.raises(StoreError, match="embedding model"):
        restore(tmp_path / "snap", tmp_path / "other", "openai:text-embedding-3-small")
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    (tmp_path / "newer").mkdir()
    (tmp_path / "newer" / "newsbot.sqlite3").write_bytes((tmp_path / "snap" / "newsbot.sqlite3").read_bytes())
    (tmp_path / "newer" / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 99}))
    with pytest.raises(StoreError, match="newer newsbot"):
        restore(tmp_path / "newer", tmp_path / "other", MODEL)
    assert not (tmp_path / "other" / "newsbot.sqlite3").exists()

    with open(data / "ingest.lock", "w") as held:  # a writer holds the store (as an ingest does)
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(StoreError, match="in use; stop the bot and ingests first"):
            restore(tmp_path / "snap", data, MODEL)
    assert registry(data)["versions"] == {("default", A1.article_id): A1.content_hash}
    assert not list(data.glob("replaced-*"))


def test_restore_keeps_the_previous_store_aside(tmp_path):
    data = tmp_path / "store"
    open_index(data).ingest([A1])
    backup(data, tmp_path / "snap")
    open_index(data).ingest([A2, B])  # the store moves on after the backup
    (data / "briefing_schedule.json").write_text("{}")

    manifest, aside = restore(tmp_path / "snap", data, MODEL)
    assert manifest["store"]["articles"] == 1 and aside is not None and aside.parent == data
    assert_consistent(data, {("default", A1.article_id): {A1.content_hash}})
    assert ("default", B.article_id) not in registry(data)["versions"]
    assert not (data / "briefing_schedule.json").exists()  # the snapshot had none
    # what was there is whole, aside: A2 and B with their vectors, and the schedule
    assert_consistent(aside, {("default", A1.article_id): {A2.content_hash},
                              ("default", B.article_id): {B.content_hash}})
    assert (aside / "briefing_schedule.json").read_text() == "{}"


def test_a_chroma_server_store_cannot_be_copied_from_files(tmp_path):
    data = tmp_path / "store"
    open_index(data).ingest([A1])
    with pytest.raises(StoreError, match="back up that server"):
        backup(data, tmp_path / "snap", chroma_host="chroma.internal")
    assert not (tmp_path / "snap").exists()
