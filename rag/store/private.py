"""A private store: the data folder and every folder newsbot makes in it are 0700, the files newsbot writes 0600.

Every server's articles, feed URLs and schedules live in the data folder, so no other local user may read them.
What newsbot writes itself is created private (`private_opener`; SQLite gives its -wal and -shm files the mode of
their database file). Chroma's own files (chroma.sqlite3, the HNSW segment files) are created by Chroma with the
process umask (0644 under the usual 022); they stay private because chroma/ and the data folder are 0700, and no
other user can pass through a 0700 folder to reach them. The process umask is left alone: it governs every file
the user's other code writes too.

A store made before this (0755 folders, 0644 files) is tightened when it is opened, with one warning. The check is
cheap, so it runs on every open: the folder's own mode is looked at, and the whole tree is walked only when the
folder was open to others.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

FOLDER_MODE = 0o700
FILE_MODE = 0o600
_OPEN_TO_OTHERS = stat.S_IRWXG | stat.S_IRWXO


def private_opener(path: str | os.PathLike, flags: int) -> int:
    """An `opener` for `open()`: a file it creates is 0600 (a file that exists keeps its mode)."""
    return os.open(path, flags, FILE_MODE)


def touch_private(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists (before SQLite opens it, so -wal/-shm follow its mode).

    An existing file is not opened: closing a descriptor of a database this process already has open through
    SQLite would drop all of the process's POSIX locks on it, and another process could then checkpoint the WAL
    under this one's readers ("file is not a database")."""
    if not os.path.exists(path):
        open(path, "a", opener=private_opener).close()


def private_folder(path: Path) -> Path:
    """`path` as a private folder: made 0700 if missing, tightened (with a warning) if it was open to others.

    Folders above it are the user's and keep their modes."""
    path = Path(path)
    try:
        path.mkdir(mode=FOLDER_MODE, parents=True)
        return path
    except FileExistsError:
        pass
    if _open_to_others(path):
        _tighten(path)
    return path


def _open_to_others(path: Path) -> bool:
    """Whether the folder grants anything to group or others. Its entries are not looked at: nobody else can reach
    them through a 0700 folder, and Chroma creates its own files 0644 in chroma/ (a warning on every open else)."""
    return bool(os.stat(path).st_mode & _OPEN_TO_OTHERS)


def _tighten(path: Path) -> None:
    """Every folder under `path` 0700 and every file 0600; links are left alone (and not followed)."""
    try:
        os.chmod(path, FOLDER_MODE)
        for root, folders, files in os.walk(path):
            for name in folders:
                if not os.path.islink(os.path.join(root, name)):
                    os.chmod(os.path.join(root, name), FOLDER_MODE)
            for name in files:
                if not os.path.islink(os.path.join(root, name)):
                    os.chmod(os.path.join(root, name), FILE_MODE)
    except OSError as exc:  # e.g. a folder owned by another user: say so, and go on reading the store
        logger.warning("the data folder %s is readable by other users and could not be made private (%s); "
                       "make it 0700 and its files 0600 yourself", path, exc)
        return
    logger.warning("the data folder %s was readable by other users: its folders are now 0700 and its files 0600",
                   path)
