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
import hashlib
import json
import os
import shutil
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from rag.errors import StoreError
from rag.store.db import DB_NAME, LOCK_NAME, StoreDB
from rag.store.private import FILE_MODE, FOLDER_MODE, private_folder, private_opener
from rag.store.registry import SCHEMA_VERSION, Registry

MANIFEST = "manifest.json"
FORMAT = "newsbot-backup"
CHROMA_DIR = "chroma"
CHROMA_DB = "chroma.sqlite3"
SCHEDULE = "briefing_schedule.json"  # rag/briefing/schedule.py STATE_FILE
STORE_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", CHROMA_DIR, SCHEDULE)  # what a restore replaces
BACKUP_FILES = (DB_NAME, CHROMA_DIR, SCHEDULE)  # what a backup may hold: files, and chroma/ with files inside
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a store's manifest is a few KB; this only stops a huge or endless one
COPY_BLOCK = 1024 * 1024


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
        manifest["files"] = _seal(partial)
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


def _seal(folder: Path) -> list[dict]:
    """Make every folder under `folder` 0700 and every file 0600; each file's path, size and sha256."""
    files = []
    for root, folders, names in os.walk(folder):
        for name in folders:
            os.chmod(os.path.join(root, name), FOLDER_MODE)
        for name in names:
            path = Path(root, name)
            os.chmod(path, FILE_MODE)
            with open(path, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
            files.append({"path": path.relative_to(folder).as_posix(), "size": path.stat().st_size,
                          "sha256": digest})
    return sorted(files, key=lambda f: f["path"])


def read_manifest(source: Path, model_id: str) -> dict:
    """The snapshot's manifest, checked: a newsbot backup of this version's format, of a schema this newsbot reads,
    made with `model_id`, listing each file it holds with a checksum."""
    source = Path(source)
    manifest = _load_manifest(source)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise StoreError(f"{source} is not a newsbot backup (no readable {MANIFEST} and {DB_NAME}); "
                         "make one with `newsbot backup DIR`")
    schema = manifest.get("schema_version")
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise StoreError(f"the backup in {source} was made by a newer newsbot (schema {schema}, this one reads up "
                         f"to {SCHEMA_VERSION}); upgrade newsbot")
    if "files" not in manifest:
        made_by = manifest.get("newsbot_version", "an older version")
        raise StoreError(f"the backup in {source} was made by an older newsbot ({made_by}) and lists no checksums, "
                         "so its files cannot be checked; take a new backup with this newsbot (`newsbot backup "
                         f"DIR`), or restore this one with newsbot {made_by} and then take a new backup")
    found = manifest.get("embedding_model")
    if not found:
        raise _refused(source, f"its {MANIFEST} names no embedding model, so the vectors it holds cannot be "
                               "checked against NEWSBOT_EMBEDDING_PROVIDER")
    if found != model_id:
        raise StoreError(f"the backup in {source} was built with embedding model {found!r}, not {model_id!r}; "
                         "restore it with the same NEWSBOT_EMBEDDING_PROVIDER")
    manifest["files"] = _listed(source, manifest["files"])
    return manifest


def _load_manifest(source: Path) -> object:
    """manifest.json parsed (None if missing or unreadable), read only from a regular file, never through a link."""
    if not os.path.lexists(source / MANIFEST):
        return None
    with os.fdopen(_open_inside(source, MANIFEST), "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _refused(source, f"{MANIFEST} is {_kind(mode)}; a backup holds only regular files")
        raw = handle.read(MAX_MANIFEST_BYTES + 1)
    try:
        return json.loads(raw) if len(raw) <= MAX_MANIFEST_BYTES else None
    except ValueError:
        return None


def _listed(source: Path, files: object) -> dict[str, tuple[int, str]]:
    """The manifest's file list as {relative path: (size, sha256)}, each path a plain one inside the backup."""
    if not isinstance(files, list):
        raise _refused(source, f"the file list in its {MANIFEST} is not a list")
    listed: dict[str, tuple[int, str]] = {}
    for entry in files:
        rel = entry.get("path") if isinstance(entry, dict) else None
        if not _store_path(rel):
            raise _refused(source, f"its {MANIFEST} lists {rel!r}, which is not a path to a store file inside "
                                   "the backup")
        size, digest = entry.get("size"), entry.get("sha256")
        if not isinstance(size, int) or size < 0 or not isinstance(digest, str) or len(digest) != 64:
            raise _refused(source, f"its {MANIFEST} gives {rel} no valid size and sha256")
        listed[rel] = (size, digest.lower())
    if DB_NAME not in listed:
        raise _refused(source, f"its {MANIFEST} does not list {DB_NAME}")
    return listed


def _store_path(rel: object) -> bool:
    """Whether `rel` is a path a backup holds: one of BACKUP_FILES, or a file in chroma/; plain, relative, no `..`."""
    if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel:
        return False
    parts = PurePosixPath(rel).parts
    return (rel == "/".join(parts) and not {".", ".."} & set(parts) and parts[0] in BACKUP_FILES
            and (parts[0] == CHROMA_DIR) == (len(parts) > 1))


def _check_entries(source: Path, listed: dict[str, tuple[int, str]]) -> None:
    """Every entry in `source` is a listed regular file, a folder on the way to one, or the manifest; no links,
    devices, FIFOs or sockets anywhere, and every listed file present."""
    folders = _folders(listed)
    seen = set()
    pending = [""]
    while pending:
        here = pending.pop()
        with os.scandir(source / here if here else source) as entries:
            for entry in entries:
                rel = f"{here}/{entry.name}" if here else entry.name
                mode = entry.stat(follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode) and rel in folders:
                    pending.append(rel)
                elif stat.S_ISREG(mode) and (rel in listed or rel == MANIFEST):
                    seen.add(rel)
                elif stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                    raise _refused(source, f"it holds {rel}, which its {MANIFEST} does not list")
                else:
                    raise _refused(source, f"{rel} is {_kind(mode)}; a backup holds only regular files")
    missing = sorted(set(listed) - seen)
    if missing:
        raise _refused(source, f"{missing[0]}, listed in its {MANIFEST}, is missing or not a regular file")


def _folders(listed: dict[str, tuple[int, str]]) -> list[str]:
    """The folders the listed files lie in (chroma, chroma/<segment>, ...), each before those inside it."""
    return sorted({"/".join(rel.split("/")[:i]) for rel in listed for i in range(1, rel.count("/") + 1)})


def _copy_verified(source: Path, rel: str, size: int, digest: str, target: Path) -> None:
    """Copy one listed file to `target` (0600), refusing it unless it has the listed size and sha256.

    The file is opened through no link at any step (a link swapped in after the check is refused too), and at most
    `size` + 1 bytes are read from it."""
    fd = _open_inside(source, rel)
    with os.fdopen(fd, "rb") as src:
        found = os.fstat(src.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise _refused(source, f"{rel} is {_kind(found.st_mode)}; a backup holds only regular files")
        if found.st_size != size:
            raise _refused(source, f"{rel} is {found.st_size} bytes, its {MANIFEST} says {size} "
                                   "(a changed or damaged backup)")
        hashed, copied = hashlib.sha256(), 0
        with open(target, "wb", opener=private_opener) as dst:
            while copied <= size and (block := src.read(min(COPY_BLOCK, size + 1 - copied))):
                hashed.update(block)
                dst.write(block)
                copied += len(block)
    if copied != size:
        raise _refused(source, f"{rel} is {'at least ' if copied > size else ''}{copied} bytes, its {MANIFEST} "
                               f"says {size} (a changed or damaged backup)")
    if hashed.hexdigest() != digest:
        raise _refused(source, f"{rel} does not match its sha256 in {MANIFEST} (a changed or damaged backup)")


def _open_inside(source: Path, rel: str) -> int:
    """A read descriptor for `rel` under `source`, each step opened with O_NOFOLLOW (a link anywhere: refused)."""
    parts = rel.split("/")
    fd = os.open(source, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | (0 if last else os.O_DIRECTORY)
            try:
                step = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                where = "/".join(parts[:i + 1])
                if os.path.islink(source / where):
                    raise _refused(source, f"{where} is a symbolic link; a backup holds only regular files") from None
                raise _refused(source, f"{where} cannot be read ({exc.strerror})") from None
            os.close(fd)
            fd = step
        return fd
    except BaseException:
        os.close(fd)
        raise


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return "not a regular file"


def _refused(source: Path, why: str) -> StoreError:
    return StoreError(f"refused the backup in {source}: {why}. Nothing was restored; the store is unchanged")


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
    _check_entries(source, manifest["files"])
    private_folder(data_dir)
    with _idle(data_dir):
        incoming = data_dir / f".restoring-{os.getpid()}"
        shutil.rmtree(incoming, ignore_errors=True)
        incoming.mkdir(mode=FOLDER_MODE)
        try:  # copy and check first: a refused or failed copy leaves the current store as it was
            for folder in _folders(manifest["files"]):
                (incoming / folder).mkdir(mode=FOLDER_MODE)
            for rel, (size, digest) in manifest["files"].items():
                _copy_verified(source, rel, size, digest, incoming / rel)
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
