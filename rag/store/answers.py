"""What an answer's buttons need, kept by the answer's id: one table in the store's database (SQLite or PostgreSQL,
through rag/store/sql.py), so the buttons keep working after a restart and in any bot process.

A row holds the question, the answer's text (the context of a follow-up), the libraries it read and its citations'
chunk ids (the passages the Sources button shows in full). Rows older than NEWSBOT_ANSWER_BUTTONS_DAYS are not
returned and are deleted as new answers are saved: an old button then says to ask again.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.store.db import DB_NAME
from rag.store.sql import Connection, open_room

SCHEMA_LOCK = 0x6E657773_0003  # the advisory lock held while creating these tables on PostgreSQL (answers)
TABLES = ("answer_records",)  # what `newsbot migrate` copies of this room
SCHEMA = """
CREATE TABLE IF NOT EXISTS answer_records (
    answer_id TEXT PRIMARY KEY, guild_id BIGINT, question TEXT NOT NULL, answer TEXT NOT NULL,
    libraries TEXT NOT NULL, chunk_ids TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS answer_records_created ON answer_records (created_at)
"""
ANSWER_CHARS = 4000  # of an answer's text kept as a follow-up's context (condensing reads far less)


@dataclass(frozen=True)
class AnswerRecord:
    """One answer as its buttons see it."""

    answer_id: str
    guild_id: int | None
    question: str
    answer: str
    libraries: tuple[str, ...]
    chunk_ids: tuple[str, ...]
    created_at: float


def new_answer_id() -> str:
    """A short random id (it travels in a button's custom_id, at most 100 characters)."""
    return secrets.token_hex(8)


class AnswerRecords:
    """Answers by id; every method is one or two short statements under a lock."""

    def __init__(self, database_url: str | None, data_dir: Path, keep_days: float) -> None:
        self.conn: Connection = open_room(database_url, Path(data_dir) / DB_NAME, SCHEMA, SCHEMA_LOCK)
        self.keep_s = keep_days * 86400
        self.lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    def save(self, guild_id: int | None, question: str, answer: str, libraries: Sequence[str],
             chunk_ids: Sequence[str], now: float | None = None) -> str:
        """Keep an answer; its new id. Answers past the window are forgotten meanwhile."""
        now = time.time() if now is None else now
        answer_id = new_answer_id()
        with self.lock, self.conn.transaction():
            self.conn.execute("DELETE FROM answer_records WHERE created_at < ?", (now - self.keep_s,))
            self.conn.execute("INSERT INTO answer_records VALUES (?, ?, ?, ?, ?, ?, ?)",
                              (answer_id, guild_id, question, answer[:ANSWER_CHARS], json.dumps(list(libraries)),
                               json.dumps(list(chunk_ids)), now))
        return answer_id

    def get(self, answer_id: str, now: float | None = None) -> AnswerRecord | None:
        """The answer, or None when it is unknown or older than the window."""
        since = (time.time() if now is None else now) - self.keep_s
        with self.lock:
            row = self.conn.execute("SELECT answer_id, guild_id, question, answer, libraries, chunk_ids, created_at "
                                    "FROM answer_records WHERE answer_id = ? AND created_at >= ?",
                                    (answer_id, since)).fetchone()
        if row is None:
            return None
        return AnswerRecord(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), tuple(json.loads(row[5])),
                            row[6])
