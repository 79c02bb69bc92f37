"""`newsbot backup DIR` and `newsbot restore DIR`: a consistent copy of the store, taken while the bot runs.

What a store keeps in its data folder: the registry (newsbot.sqlite3, SQLite in WAL mode), the on-disk Chroma
folder (chroma/, its own SQLite file plus HNSW index files) and the bot's briefing schedule
(briefing_schedule.json). The lock files are not data, and eval-<hash>/ folders are stores of their own that
`newsbot eval` rebuilds, so neither is copied.

A backup holds the store's write lock (no ingest or remove is mid-write; one that starts waits, one under way is
waited for) and a shared Chroma lock (readers go on) while it copies: both SQLite files through SQLite's online
backup API (it reads committed pages, whatever is still in the WAL included), the rest of chroma/ file by file. It
is written to a hidden, 0700 folder beside DIR and renamed to DIR at the end, with manifest.json listing each file
it holds (relative path, size, sha256), so a DIR that exists is a whole snapshot; its files are 0600.

A backup is a folder anyone might have changed, so a restore trusts nothing in it but what the manifest lists and
the checksums confirm: a link, device, FIFO, socket or unlisted entry anywhere refuses it (a link would copy its
target, a file outside the store or /dev/zero, into the store and every later backup), as does a path that leaves
the folder, a size or sha256 that differs, or a manifest without an embedding model. Backups from before the
checksums are refused with a message saying how to take a verifiable one. The files are copied into a 0700 folder
in the data folder and checked as they are copied, so a refusal leaves the current store untouched; only then does
the restore (refused while a writer holds the store) move the store files it replaces aside into
data_dir/replaced-<time>/ and put the snapshot's in place. Nothing here imports Chroma.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import StoreError
from rag.store.db import DB_NAME, LOCK_NAME, StoreDB
from rag.store.private import FOLDER_MODE, private_folder, private_opener
from rag.store.manifest import (CHROMA_DIR, FORMAT, MANIFEST, SCHEDULE, check_entries, copy_verified, listed_folders,
                                read_manifest, seal)
from rag.store.registry import Registry
from rag.store.schema import SCHEMA_VERSION

CHROMA_DB = "chroma.sqlite3"
STORE_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", CHROMA_DIR, SCHEDULE)  # what a restore replaces


def _newsbot_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsbot")
    except PackageNotFoundError:
        return "unknown"


def _copy_sqlite(source: Path, target: Path) -> None:
    """One SQLite file, as its committed contents (WAL included), through the online backup API."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def backup(data_dir: Path, target: Path, chroma_host: str | None = None,
           on_wait: Callable[[], None] | None = None) -> dict:
    """Write a snapshot of the store in `data_dir` to the new folder `target`; returns its manifest.

    `on_wait` is called once if an ingest or remove holds the store and the backup waits for it."""
    data_dir, target = Path(data_dir), Path(target)
    if chroma_host:
        raise StoreError(f"the vectors live on the Chroma server {chroma_host}, which files cannot copy; back up "
                         "that server (its persist directory) and copy the data folder while no ingest runs")
    if not (data_dir / DB_NAME).is_file():
        raise StoreError(f"there is no store in {data_dir} to back up (no {DB_NAME})")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise StoreError(f"{target} already exists and is not an empty folder; name a new folder for the backup")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.parent / f".{target.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=FOLDER_MODE)  # private from the start: the copies are never readable by others
    db = StoreDB(data_dir)
    try:
        manifest = _snapshot(db, partial, on_wait)
        manifest["files"] = seal(partial)
        with open(partial / MANIFEST, "w", encoding="utf-8", opener=private_opener) as handle:
            handle.write(json.dumps(manifest, indent=2) + "\n")
        if target.exists():
            target.rmdir()  # empty, checked above
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        db.close()
    return manifest


def _snapshot(db: StoreDB, partial: Path, on_wait: Callable[[], None] | None) -> dict:
    """Copy the store's files into `partial` under its write lock; the manifest's description of the store."""
    try:
        with db.write_lock(wait=False):
            pass
    except BlockingIOError:
        if on_wait:
            on_wait()
    with db.write_lock(), db.chroma_access():
        registry = Registry(db)  # an older schema is brought up to date first, as any open would
        _copy_sqlite(db.path, partial / DB_NAME)
        chroma = db.data_dir / CHROMA_DIR
        if chroma.is_dir():
            shutil.copytree(chroma, partial / CHROMA_DIR, ignore=shutil.ignore_patterns(f"{CHROMA_DB}*", "*.lock"))
            if (chroma / CHROMA_DB).is_file():
                _copy_sqlite(chroma / CHROMA_DB, partial / CHROMA_DIR / CHROMA_DB)
        if (db.data_dir / SCHEDULE).is_file():
            shutil.copy2(db.data_dir / SCHEDULE, partial / SCHEDULE)
        return {
            "format": FORMAT, "newsbot_version": _newsbot_version(),
            "schema_version": int(db.get_meta("schema_version") or SCHEMA_VERSION),
            "embedding_model": db.get_meta("embedding_model"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "store": registry.stats(None), "libraries": registry.libraries(),
        }


@contextmanager
def _idle(data_dir: Path) -> Iterator[None]:
    """Hold the store's write lock and Chroma lock exclusively, or fail at once if anyone holds either."""
    with (open(data_dir / LOCK_NAME, "w", opener=private_opener) as writer,
          open(data_dir / "chroma.lock", "a", opener=private_opener) as chroma):
        try:
            fcntl.flock(writer, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(chroma, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(f"the store in {data_dir} is in use; stop the bot and ingests first") from None
        yield


def restore(source: Path, data_dir: Path, model_id: str, chroma_host: str | None = None) -> tuple[dict, Path | None]:
    """Put the snapshot in `source` in place as the store in `data_dir`, once every file in it is checked.

    Only the files its manifest lists are copied, each checked against its size and sha256 before any store file
    is replaced; a link, device, FIFO, socket or unlisted entry anywhere in `source` refuses the whole backup.
    Returns the manifest and the folder the replaced store files were moved to (None if there were none)."""
    source, data_dir = Path(source), Path(data_dir)
    if chroma_host:
        raise StoreError(f"the vectors live on the Chroma server {chroma_host}; a backup holds on-disk vectors "
                         "only, so restore with NEWSBOT_CHROMA_HOST unset")
    manifest = read_manifest(source, model_id)
    check_entries(source, manifest["files"])
    private_folder(data_dir)
    with _idle(data_dir):
        incoming = data_dir / f".restoring-{os.getpid()}"
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(mode=FOLDER_MODE)
        try:  # copy and check first: a refused or failed copy leaves the current store as it was
            for folder in listed_folders(manifest["files"]):
                (incoming / folder).mkdir(mode=FOLDER_MODE)
            for rel, (size, digest) in manifest["files"].items():
                copy_verified(source, rel, size, digest, incoming / rel)
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
        aside = _move_aside(data_dir)
        for entry in incoming.iterdir():
            entry.rename(data_dir / entry.name)
        incoming.rmdir()
    return manifest, aside


def _move_aside(data_dir: Path) -> Path | None:
    """Move the store files in `data_dir` into a new replaced-<UTC time>/ folder (None if there are none)."""
    present = [name for name in STORE_FILES if os.path.lexists(data_dir / name)]
    if not present:
        return None
    aside = data_dir / f"replaced-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    n = 1
    while aside.exists():
        n += 1
        aside = aside.with_name(f"{aside.name.split('.')[0]}.{n}")
    aside.mkdir(mode=FOLDER_MODE)
    for name in present:
        (data_dir / name).rename(aside / name)
    return aside
