"""A backup's manifest: what `backup` seals into it (each file's path, size and sha256) and every check `restore`
makes of a backup folder before anything in the store is replaced (rag/store/backup.py says why each matters)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path, PurePosixPath

from rag.errors import StoreError
from rag.store.db import DB_NAME
from rag.store.private import FILE_MODE, FOLDER_MODE, private_opener
from rag.store.schema import SCHEMA_VERSION

MANIFEST = "manifest.json"
FORMAT = "newsbot-backup"
CHROMA_DIR = "chroma"
SCHEDULE = "briefing_schedule.json"  # rag/briefing/schedule.py STATE_FILE
BACKUP_FILES = (DB_NAME, CHROMA_DIR, SCHEDULE)  # what a backup may hold: files, and chroma/ with files inside
MAX_MANIFEST_BYTES = 16 * 1024 * 1024  # a store's manifest is a few KB; this only stops a huge or endless one
COPY_BLOCK = 1024 * 1024


def seal(folder: Path) -> list[dict]:
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


def check_entries(source: Path, listed: dict[str, tuple[int, str]]) -> None:
    """Every entry in `source` is a listed regular file, a folder on the way to one, or the manifest; no links,
    devices, FIFOs or sockets anywhere, and every listed file present."""
    folders = listed_folders(listed)
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


def listed_folders(listed: dict[str, tuple[int, str]]) -> list[str]:
    """The folders the listed files lie in (chroma, chroma/<segment>, ...), each before those inside it."""
    return sorted({"/".join(rel.split("/")[:i]) for rel in listed for i in range(1, rel.count("/") + 1)})


def copy_verified(source: Path, rel: str, size: int, digest: str, target: Path) -> None:
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
