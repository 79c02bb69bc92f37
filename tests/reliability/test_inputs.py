"""Reliability, bad inputs (issue #6, item 1): every bad file is named with its reason, the rest go in, the store stays
consistent, and `newsbot ingest` exits 0 (all ok), 1 (some skipped) or 2 (usage)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import assert_consistent, good, newsbot, store_counts

pytestmark = pytest.mark.slow  # a newsbot process per command


def skipped(proc: subprocess.CompletedProcess) -> dict[str, str]:
    """`skipped ORIGIN: REASON` lines from stderr, by origin."""
    lines = [line[len("skipped "):] for line in proc.stderr.splitlines() if line.startswith("skipped ")]
    return dict(line.split(": ", 1) for line in lines)


@pytest.fixture
def data(tmp_path) -> Path:
    return tmp_path / "store"


BAD = {
    "binary.txt": (bytes(range(256)) * 20, "binary file (not text)"),
    "empty.txt": (b"", "file is empty"),
    "blank.md": (b"  \n\n \t\n", "file is empty"),
    "title-only.txt": (b"Only a headline\n", "article has no body"),
    "truncated.json": (b'{"title": "Cut", "body": "Cut off', "malformed JSON at line 1"),
    "nobody.json": (b'[{"title": "No body", "source": "Wire"}]', "article has no body"),
}


def test_each_bad_file_is_named_with_its_reason_and_the_good_ones_go_in(tmp_path, data):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        (folder / f"good{i}.txt").write_text(good(i), encoding="utf-8")
    for name, (content, _) in BAD.items():
        (folder / name).write_bytes(content)

    proc = newsbot("ingest", str(folder), data=data, code=1)

    reasons = skipped(proc)
    for name, (_, reason) in BAD.items():
        origin = next(o for o in reasons if Path(o.split(" ")[0]).name == name)
        assert reason in reasons[origin], (name, reasons[origin])
    assert "added 3," in proc.stderr and f"failed {len(BAD)}" in proc.stderr
    assert_consistent(data, 3)


def test_a_file_over_the_size_limit_is_refused_with_its_size(tmp_path, data):
    big = tmp_path / "big.txt"
    big.write_text("A big one\n\n" + "word " * 400, encoding="utf-8")
    small = tmp_path / "small.txt"
    small.write_text(good(1), encoding="utf-8")

    proc = newsbot("ingest", str(big), str(small), data=data, code=1, NEWSBOT_MAX_FILE_BYTES="1000")

    assert skipped(proc) == {str(big): "file is 2,011 bytes, over the 1,000-byte limit"}
    assert_consistent(data, 1)


def test_the_default_size_limit_is_10_mb(tmp_path, data):
    big = tmp_path / "huge.txt"
    with big.open("wb") as handle:
        handle.write(b"Huge\n\n")
        handle.truncate(10 * 1024 * 1024 + 1)  # sparse: over the limit without writing 10 MB
    proc = newsbot("ingest", str(big), data=data, code=1)
    assert "over the 10,485,760-byte limit" in skipped(proc)[str(big)]


ENCODED = {
    "latin1.txt": ("latin-1", "Café in Zürich\n\nThe café in Zürich served crème brûlée to the mayor.\n"),
    "cp1252.txt": ("cp1252", "Quotes\n\nThe mayor said “the café stays open” – in Zürich.\n"),
    "utf16-bom.txt": ("utf-16", "Zürich budget\n\nZürich approved the café budget on Monday.\n"),
    "utf16le.txt": ("utf-16-le", "Zürich tram\n\nThe Zürich tram line to the café reopened.\n"),
    "utf16be.txt": ("utf-16-be", "Zürich lake\n\nThe lake near the Zürich café froze over.\n"),
}


def test_latin1_cp1252_and_utf16_with_or_without_bom_are_decoded(tmp_path, data):
    folder = tmp_path / "enc"
    folder.mkdir()
    for name, (encoding, text) in ENCODED.items():
        (folder / name).write_bytes(text.encode(encoding))

    newsbot("ingest", str(folder), data=data, code=0)

    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        rows = dict(db.execute("SELECT v.title, c.text FROM chunks c JOIN versions v USING (version_id)"))
    expected = {text.split("\n")[0]: text.split("\n\n", 1)[1].strip() for _, text in ENCODED.values()}
    assert rows == expected
    answer = json.loads(newsbot("ask", "What did the café in Zürich serve to the mayor?", "--json", data=data).stdout)
    assert any("crème brûlée" in c["quote"] and "Zürich" in c["quote"] for c in answer["citations"])


def test_invalid_utf8_keeps_the_good_text_and_warns(tmp_path, data):
    path = tmp_path / "damaged.txt"
    path.write_bytes("Damaged\n\nThe café in Zürich reopened".encode() + b" \xff\xfe " + b"after repairs.\n")

    proc = newsbot("ingest", str(path), data=data, code=0)

    assert f"warning: {path}: invalid UTF-8: 2 undecodable byte(s) replaced" in proc.stderr
    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        [text] = [r[0] for r in db.execute("SELECT text FROM chunks")]
    assert text == "The café in Zürich reopened \ufffd\ufffd after repairs."


def test_jsonl_reports_the_bad_line_by_number_and_ingests_the_good_lines(tmp_path, data):
    feed = tmp_path / "feed.jsonl"
    record = {"title": "Good", "body": "A good body.", "source": "Wire", "published_at": "2024-05-01"}
    lines = [json.dumps(record | {"url": f"https://x.test/{i}"}) for i in range(4)]
    lines.insert(2, '{"title": "broken", ')
    lines.insert(4, '["a list, not an object"]')
    feed.write_text("\n".join(lines) + "\n", encoding="utf-8")

    proc = newsbot("ingest", str(feed), data=data, code=1)

    assert skipped(proc) == {f"{feed} line 3": "malformed JSON: Expecting property name enclosed in double quotes",
                             f"{feed} line 5": "record is a list, not an object"}
    assert_consistent(data, 4)


def test_missing_title_body_or_date_and_bad_dates(tmp_path, data):
    feed = tmp_path / "feed.json"
    feed.write_text(json.dumps([
        {"body": "No title here. Second sentence.", "published_at": "2024-05-01"},
        {"title": "No body"},
        {"title": "No date", "body": "Undated body."},
        {"title": "Future", "body": "From the future.", "published_at": "2999-01-01"},
        {"title": "Nonsense date", "body": "When was this?", "published_at": "the day after tomorrow"},
    ]), encoding="utf-8")

    proc = newsbot("ingest", str(feed), data=data, code=1)

    assert skipped(proc) == {f"{feed} record 1": "article has no body"}
    for line in (f"{feed} record 0: no title: used the first line of the body",
                 f"{feed} record 2: no date: stored as undated",
                 f"{feed} record 3: date 2999-01-01 is in the future: stored as undated",
                 f"{feed} record 4: unreadable date 'the day after tomorrow': stored as undated"):
        assert f"warning: {line}" in proc.stderr
    listed = {a["title"]: a["published"] for a in json.loads(newsbot("sources", "--json", data=data).stdout)}
    assert listed == {"No title here. Second sentence.": "2024-05-01", "No date": None, "Future": None,
                      "Nonsense date": None}
    assert_consistent(data, 4)


def test_a_missing_path_is_named_and_no_path_is_a_usage_error(tmp_path, data):
    (tmp_path / "ok.txt").write_text(good(0), encoding="utf-8")
    proc = newsbot("ingest", str(tmp_path / "ok.txt"), str(tmp_path / "nope"), data=data, code=1)
    assert skipped(proc) == {str(tmp_path / "nope"): "no such file or folder"}
    assert_consistent(data, 1)
    newsbot("ingest", data=data, code=2)
    newsbot("ingest", str(tmp_path), "--no-such-option", data=data, code=2)


def test_symlink_loops_are_cut_with_a_reason(tmp_path, data):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text(good(1), encoding="utf-8")
    (folder / "sub" / "b.txt").write_text(good(2), encoding="utf-8")
    (folder / "sub" / "up").symlink_to(folder)  # a folder loop
    (folder / "x.txt").symlink_to(folder / "y.txt")  # a file loop
    (folder / "y.txt").symlink_to(folder / "x.txt")

    proc = newsbot("ingest", str(folder), data=data, code=1)

    assert skipped(proc) == {
        str(folder / "sub" / "up"): "symlink loop: folder already visited",
        str(folder / "x.txt"): "symlink loop: the link points back at itself",
        str(folder / "y.txt"): "symlink loop: the link points back at itself",
    }
    assert_consistent(data, 2)


def test_a_folder_of_1000_files_with_10_bad_ones(tmp_path, data):
    folder = tmp_path / "many"
    folder.mkdir()
    bad = {f"{i:04d}.txt" for i in range(5, 1000, 100)}
    for i in range(1000):
        name = f"{i:04d}.txt"
        (folder / name).write_bytes(b"\x00\x01\x02" * 50 if name in bad else good(i).encode())
    before = assert_consistent(data, 0) if (data / "newsbot.sqlite3").exists() else None

    proc = newsbot("ingest", str(folder), data=data, code=1)

    reasons = skipped(proc)
    assert {Path(o).name for o in reasons} == bad and set(reasons.values()) == {"binary file (not text)"}
    assert "added 990, updated 0, unchanged 0, failed 10" in proc.stderr
    counts = assert_consistent(data, 990)
    assert before is None and counts["chunks"] == 990

    again = newsbot("ingest", str(folder), data=data, code=1)
    assert "added 0, updated 0, unchanged 990, failed 10" in again.stderr
    assert store_counts(data) == counts
