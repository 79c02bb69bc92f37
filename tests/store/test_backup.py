"""`newsbot backup` / `restore` (issue #15, item 5): a snapshot taken while the store is in use restores to the
same store; a backup taken during another process's ingest holds whole versions; restore refuses what it should
and never loses the store it replaces."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import threading
from pathlib import Path

import pytest

from rag.errors import StoreError
from rag.store.backup import backup, restore

from tests.conftest import SEEDS
from tests.support.cli import HEAVY, imported_by, run
from tests.support.crash_points import A1, A2, B, CTX, assert_consistent, open_index, registry

pytestmark = pytest.mark.slow  # child processes and newsbot commands

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


# ---- a tampered backup (issue #25, item 8): refused with its reason, the store as it was ----------------------

SECRET = "token=hunter2\n"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory) -> tuple[Path, Path]:
    """A backup holding A1, and the store it came from, which has moved on to A2 and B since."""
    base = tmp_path_factory.mktemp("tamper")
    data = base / "store"
    open_index(data).ingest([A1])
    backup(data, base / "snap")
    open_index(data).ingest([A2, B])
    return data, base / "snap"


@pytest.fixture()
def tampered(snapshot, tmp_path) -> tuple[Path, Path, Path]:
    """A copy of the store and of its backup for one test to change, and a private file outside both."""
    data, snap = tmp_path / "store", tmp_path / "snap"
    shutil.copytree(snapshot[0], data)
    shutil.copytree(snapshot[1], snap, symlinks=True)
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    secret.chmod(0o600)
    return data, snap, secret


def edit_manifest(snap: Path, change) -> None:
    path = snap / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def listed(snap: Path, rel: str) -> dict:
    return next(f for f in json.loads((snap / "manifest.json").read_text())["files"] if f["path"] == rel)


def assert_store_as_it_was(data: Path) -> None:
    """The refused restore changed nothing: A2 and B with every vector, nothing moved aside or left half-copied."""
    assert_consistent(data, {("default", A1.article_id): {A2.content_hash},
                             ("default", B.article_id): {B.content_hash}})
    assert not list(data.glob("replaced-*")) and not list(data.glob(".restoring-*"))
    assert SECRET not in "".join(p.read_text(errors="replace") for p in data.rglob("*") if p.is_file())


def link_for_listed_file(snap: Path, secret: Path) -> str:
    (snap / "chroma" / "chroma.sqlite3").unlink()
    (snap / "chroma" / "chroma.sqlite3").symlink_to(secret)
    return r"chroma/chroma.sqlite3 is a symbolic link"


def link_to_dev_zero(snap: Path, secret: Path) -> str:
    (snap / "newsbot.sqlite3").unlink()
    (snap / "newsbot.sqlite3").symlink_to("/dev/zero")
    return r"newsbot.sqlite3 is a symbolic link"


def unlisted_link(snap: Path, secret: Path) -> str:
    (snap / "chroma" / "extra.bin").symlink_to(secret)
    return r"chroma/extra.bin is a symbolic link"


def link_for_listed_folder(snap: Path, secret: Path) -> str:
    """chroma/ moved out and linked back: every checksum still matches, the link alone refuses it."""
    (snap / "chroma").rename(snap.parent / "elsewhere")
    (snap / "chroma").symlink_to(snap.parent / "elsewhere")
    return r"chroma is a symbolic link"


def fifo(snap: Path, secret: Path) -> str:
    os.mkfifo(snap / "chroma" / "queue")
    return r"chroma/queue is a FIFO"


def unlisted_file(snap: Path, secret: Path) -> str:
    (snap / "notes.txt").write_text("not part of any store")
    return r"it holds notes.txt, which its manifest.json does not list"


def changed_byte(snap: Path, secret: Path) -> str:
    raw = bytearray((snap / "newsbot.sqlite3").read_bytes())
    raw[-1] ^= 0xFF  # same size, one byte different
    (snap / "newsbot.sqlite3").write_bytes(bytes(raw))
    return r"newsbot.sqlite3 does not match its sha256 in manifest.json"


def grown_file(snap: Path, secret: Path) -> str:
    size = listed(snap, "newsbot.sqlite3")["size"]
    with open(snap / "newsbot.sqlite3", "ab") as handle:
        handle.write(b"x")
    return rf"newsbot.sqlite3 is {size + 1} bytes, its manifest.json says {size}"


def no_embedding_model(snap: Path, secret: Path) -> str:
    edit_manifest(snap, lambda m: m.pop("embedding_model"))
    return r"names no embedding model"


def path_with_dotdot(snap: Path, secret: Path) -> str:
    edit_manifest(snap, lambda m: m["files"].append({"path": "chroma/../../secret.txt", "size": len(SECRET),
                                                       "sha256": hashlib.sha256(SECRET.encode()).hexdigest()}))
    return r"lists 'chroma/\.\./\.\./secret\.txt', which is not a path to a store file inside the backup"


def absolute_path(snap: Path, secret: Path) -> str:
    edit_manifest(snap, lambda m: m["files"].append({"path": str(secret), "size": len(SECRET),
                                                       "sha256": hashlib.sha256(SECRET.encode()).hexdigest()}))
    return r"which is not a path to a store file inside the backup"


def manifest_is_a_link(snap: Path, secret: Path) -> str:
    (snap / "manifest.json").unlink()
    (snap / "manifest.json").symlink_to("/dev/zero")
    return r"manifest.json is a symbolic link"


@pytest.mark.parametrize("tamper", [link_for_listed_file, link_to_dev_zero, unlisted_link, link_for_listed_folder,
                                    fifo, unlisted_file, changed_byte, grown_file, no_embedding_model,
                                    path_with_dotdot, absolute_path, manifest_is_a_link])
def test_a_tampered_backup_is_refused_with_its_reason_and_the_store_stays(tampered, tamper):
    data, snap, secret = tampered
    reason = tamper(snap, secret)
    with pytest.raises(StoreError, match=rf"refused the backup in {snap}: .*{reason}") as refused:
        restore(snap, data, MODEL)
    assert "Nothing was restored; the store is unchanged" in str(refused.value)
    assert_store_as_it_was(data)


def test_a_backup_from_before_the_checksums_is_refused_with_how_to_take_a_new_one(tampered):
    data, snap, _ = tampered
    edit_manifest(snap, lambda m: (m.pop("files"), m.update(newsbot_version="0.9.0")))
    with pytest.raises(StoreError, match=r"made by an older newsbot \(0\.9\.0\) and lists no checksums.*take a new "
                                         r"backup with this newsbot"):
        restore(snap, data, MODEL)
    assert_store_as_it_was(data)


def test_restore_from_the_command_line_names_the_link_and_exits_1(tampered):
    data, snap, secret = tampered
    from rag.config import LOCAL_EMBEDDING_MODEL  # the model the command line's settings choose

    edit_manifest(snap, lambda m: m.update(embedding_model=LOCAL_EMBEDDING_MODEL))
    link_for_listed_file(snap, secret)
    proc = run("restore", str(snap), env_dir=data, check_code=1)
    assert proc.stderr.startswith(f"error: refused the backup in {snap}: chroma/chroma.sqlite3 is a symbolic link")
    assert "Traceback" not in proc.stderr
    assert_store_as_it_was(data)


def test_a_good_backup_restores_every_listed_file_privately(tampered):
    data, snap, _ = tampered
    manifest, aside = restore(snap, data, MODEL)
    for rel, (size, digest) in manifest["files"].items():  # before Chroma opens (and rewrites) its files
        restored = data / rel
        assert restored.stat().st_size == size and hashlib.sha256(restored.read_bytes()).hexdigest() == digest
        assert stat.S_IMODE(restored.stat().st_mode) == 0o600
    assert stat.S_IMODE((data / "chroma").stat().st_mode) == 0o700
    assert stat.S_IMODE(aside.stat().st_mode) == 0o700
    assert_consistent(data, {("default", A1.article_id): {A1.content_hash}})
    assert_consistent(aside, {("default", A1.article_id): {A2.content_hash},
                              ("default", B.article_id): {B.content_hash}})


def test_a_file_swapped_for_a_link_after_the_check_is_refused_too(tampered, monkeypatch):
    """The race: the backup is clean when looked over, and a listed file becomes a link before it is copied."""
    from rag.store import backup as module

    data, snap, secret = tampered
    check = module.check_entries

    def check_then_swap(source, files):
        check(source, files)
        link_for_listed_file(snap, secret)

    monkeypatch.setattr(module, "check_entries", check_then_swap)
    with pytest.raises(StoreError, match=r"chroma/chroma\.sqlite3 is a symbolic link"):
        restore(snap, data, MODEL)
    assert_store_as_it_was(data)
