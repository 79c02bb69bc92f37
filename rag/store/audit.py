"""The audit of writes, kept in the store's database (SQLite or PostgreSQL, through rag/store/sql.py).

Each change a Discord member makes to what a server reads or gets (/ingest, /forget, the schedule, feeds, follows)
is one row: when, which server, which user, the action and its detail (ids, titles, channel; never message
content or secrets). The `bot.audit` log line stays for operators who route logs; the rows are what every bot
process on every machine shares, and what `newsbot migrate` carries over.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rag.store.db import DB_NAME
from rag.store.sql import open_room

SCHEMA_LOCK = 0x6E657773_0005  # the advisory lock held while creating this table on PostgreSQL (audit)
TABLES = ("audit_log",)  # what `newsbot migrate` copies of this room
SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, guild_id INTEGER, user_id INTEGER NOT NULL, action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_guild ON audit_log (guild_id, at)
"""
DETAIL_CHARS = 2000  # a detail names ids and titles; a longer one is cut


class AuditLog:
    """Audit rows: `record` one, `recent` ones (newest first)."""

    def __init__(self, database_url: str | None, data_dir: Path) -> None:
        self.conn = open_room(database_url, Path(data_dir) / DB_NAME, SCHEMA, SCHEMA_LOCK)
        self.lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    def record(self, action: str, guild_id: int | None, user_id: int, detail: str, at: float | None = None) -> None:
        with self.lock:
            self.conn.execute("INSERT INTO audit_log (at, guild_id, user_id, action, detail) VALUES (?, ?, ?, ?, ?)",
                              (time.time() if at is None else at, guild_id, user_id, action, detail[:DETAIL_CHARS]))

    def recent(self, guild_id: int | None = None, limit: int = 50) -> list[dict]:
        where, args = ("WHERE guild_id = ? ", [guild_id]) if guild_id is not None else ("", [])
        with self.lock:
            rows = self.conn.execute(f"SELECT at, guild_id, user_id, action, detail FROM audit_log {where}"
                                     "ORDER BY at DESC, id DESC LIMIT ?", [*args, limit]).fetchall()
        return [dict(zip(("at", "guild_id", "user_id", "action", "detail"), r)) for r in rows]
