"""The audit of writes in the store's database: the same rows on SQLite and PostgreSQL, newest first, per server."""

from __future__ import annotations

import pytest

from rag.store.audit import DETAIL_CHARS, AuditLog

pytestmark = pytest.mark.slow  # starts PostgreSQL


@pytest.fixture(params=["sqlite", "postgres"])
def audit_log(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    log = AuditLog(url, tmp_path / "store")
    yield log
    log.close()


def test_audit_rows_are_kept_per_server_newest_first_with_discord_sized_ids(audit_log):
    big = 1_234_567_890_123_456_789  # Discord ids need 64 bits
    audit_log.record("/ingest", big, big + 1, "file 'a.txt' into guild-1: added 1", at=100.0)
    audit_log.record("/forget", big, big + 1, "article 'x' from guild-1: removed", at=200.0)
    audit_log.record("/ingest", 7, 8, "elsewhere", at=300.0)
    audit_log.record("/ingest", 7, 8, "x" * (DETAIL_CHARS + 50), at=400.0)

    rows = audit_log.recent(guild_id=big)
    assert [(r["action"], r["guild_id"], r["user_id"]) for r in rows] == [("/forget", big, big + 1),
                                                                          ("/ingest", big, big + 1)]
    assert len(audit_log.recent()) == 4 and len(audit_log.recent(guild_id=7)[0]["detail"]) == DETAIL_CHARS
