"""The registry's one SQL spelling runs on SQLite and on a real PostgreSQL alike."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError
from rag.store.sql import check_database_url, connect, to_pyformat

pytestmark = pytest.mark.slow  # starts PostgreSQL


def test_question_marks_become_placeholders_but_quoted_text_and_percent_signs_stay_what_they_were():
    assert to_pyformat("SELECT '?%', x FROM t WHERE a=? AND b LIKE '%?' AND c % 2 = ?") == \
        "SELECT '?%%', x FROM t WHERE a=%s AND b LIKE '%%?' AND c %% 2 = %s"


@pytest.fixture(params=["sqlite", "postgres"])
def conn(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    connection = connect(url, tmp_path / "t.sqlite3")
    yield connection
    connection.close()


def test_the_same_statements_write_read_and_roll_back_on_both_databases(conn):
    conn.executescript("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER NOT NULL); CREATE INDEX t_n ON t (n)")
    with conn.transaction():
        conn.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2)])
        conn.execute("INSERT INTO t VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET n=excluded.n", ("a", 5))
    with pytest.raises(RuntimeError), conn.transaction():
        conn.execute("DELETE FROM t WHERE k=?", ("a",))
        raise RuntimeError("crash mid-transaction")
    assert conn.execute("SELECT k, n FROM t WHERE n > ? ORDER BY k", (0,)).fetchall() == [("a", 5), ("b", 2)]
    assert not conn.in_transaction


def test_a_database_url_that_is_not_postgresql_is_refused_with_what_to_do():
    with pytest.raises(ConfigError, match="postgresql://"):
        check_database_url("mysql://db/newsbot")


def test_an_unreachable_database_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="can't reach the database"):
        connect(f"postgresql://nobody:secret@/none?host={tmp_path}", tmp_path / "x", timeout_s=2)
