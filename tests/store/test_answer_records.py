"""What an answer's buttons need, kept by its id on SQLite and on a real PostgreSQL alike, forgotten after the
window."""

from __future__ import annotations

import pytest

from rag.store.answers import AnswerRecords

pytestmark = pytest.mark.slow  # starts PostgreSQL


@pytest.fixture(params=["sqlite", "postgres"])
def records(request, tmp_path):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    kept = AnswerRecords(url, tmp_path, keep_days=30)
    yield kept
    kept.close()


def test_an_answer_is_found_by_its_id_with_what_its_buttons_need(records):
    answer_id = records.save(42, "How many drones?", "Russia deployed 145 drones [1].", ["default", "guild-42"],
                             ["c1", "c2"], now=1000.0)
    record = records.get(answer_id, now=1000.0 + 29 * 86400)
    assert (record.guild_id, record.question, record.answer) == (42, "How many drones?",
                                                                 "Russia deployed 145 drones [1].")
    assert record.libraries == ("default", "guild-42") and record.chunk_ids == ("c1", "c2")
    assert records.get("0" * 16) is None


def test_an_answer_older_than_the_window_is_not_returned_and_is_deleted_as_new_ones_come(records):
    old = records.save(None, "q", "a", ["default"], [], now=1000.0)
    assert records.get(old, now=1000.0 + 31 * 86400) is None
    records.save(None, "q2", "a2", ["default"], [], now=1000.0 + 31 * 86400)
    assert records.conn.execute("SELECT count(*) FROM answer_records").fetchone()[0] == 1
