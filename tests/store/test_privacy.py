"""A private store (issue #25, item 9): the data folder and its folders 0700, newsbot's files 0600, backups too;
an existing store open to other users is tightened when opened, with one warning naming it.

The tests run as root in CI, where permission checks never fail, so they assert the mode bits themselves."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from pathlib import Path

from rag.feeds.registry import FeedStore
from rag.briefing.schedule import Schedule, ScheduleStore
from rag.store.backup import backup
from rag.store.catalog import Catalog

from tests.support.crash_points import A1, B, open_index

MODEL = "DeterministicFakeEmbedding"


def modes(root: Path) -> dict[str, int]:
    """Every path under `root` (and root itself, as ".") -> its permission bits."""
    found = {".": stat.S_IMODE(root.stat().st_mode)}
    for path in root.rglob("*"):
        found[path.relative_to(root).as_posix()] = stat.S_IMODE(path.lstat().st_mode)
    return found


def open_to_others(found: dict[str, int], outside_chroma_only: bool = False) -> dict[str, str]:
    """The entries that grant group or others anything (Chroma's own files aside, if asked)."""
    return {rel: oct(mode) for rel, mode in found.items() if mode & 0o077
            and not (outside_chroma_only and rel.startswith("chroma/"))}


def test_a_new_store_is_private_after_an_ingest_a_feed_and_a_schedule(tmp_path, caplog):
    data = tmp_path / "store"
    with caplog.at_level(logging.WARNING):
        open_index(data).ingest([A1, B])
        FeedStore(data).close()
        ScheduleStore(data).save(Schedule(42, "08:00", "UTC"))
    found = modes(data)
    assert found["."] == 0o700 and found["chroma"] == 0o700
    assert {"newsbot.sqlite3", "ingest.lock", "chroma.lock"} <= set(found)
    # newsbot's own files (SQLite's -wal/-shm included) are 0600 and its folders 0700; Chroma's own files and
    # segment folders are made with the umask and stay private because chroma/ and the data folder are 0700,
    # which no other user can pass through
    assert open_to_others(found, outside_chroma_only=True) == {}
    assert all(mode == 0o700 for rel, mode in found.items() if (data / rel).is_dir() and "/" not in rel)
    assert not [r for r in caplog.records if "readable by other users" in r.getMessage()]  # a new store: no warning


def test_a_backup_is_private_and_lists_each_file_with_its_size_and_sha256(tmp_path):
    data = tmp_path / "store"
    open_index(data).ingest([A1])
    (data / "chroma").chmod(0o755)  # even a store still open to others gives a private backup
    manifest = backup(data, tmp_path / "snap")
    found = modes(tmp_path / "snap")
    assert open_to_others(found) == {}
    assert found["."] == 0o700 and found["manifest.json"] == 0o600
    on_disk = {p.relative_to(tmp_path / "snap").as_posix(): p for p in (tmp_path / "snap").rglob("*")
               if p.is_file() and p.name != "manifest.json"}
    assert {f["path"] for f in manifest["files"]} == set(on_disk)
    for entry in json.loads((tmp_path / "snap" / "manifest.json").read_text())["files"]:
        path = on_disk[entry["path"]]
        assert entry["size"] == path.stat().st_size
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_store_readable_by_others_is_tightened_when_opened_with_one_warning_naming_it(tmp_path, caplog):
    data = tmp_path / "store"
    open_index(data).ingest([A1])
    for root, folders, files in os.walk(data):  # as a store made before #25 under the usual umask
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    assert open_to_others(modes(data))

    with caplog.at_level(logging.WARNING):
        catalog = Catalog(data, MODEL)
    warned = [r.getMessage() for r in caplog.records if "readable by other users" in r.getMessage()]
    assert warned == [f"the data folder {data} was readable by other users: its folders are now 0700 and its "
                      "files 0600"]
    assert open_to_others(modes(data)) == {}  # Chroma's files too: the walk reaches everything
    assert catalog.stats(None)["articles"] == 1  # and the store still reads

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        Catalog(data, MODEL)
    assert not [r for r in caplog.records if "readable by other users" in r.getMessage()]  # once, not every open
