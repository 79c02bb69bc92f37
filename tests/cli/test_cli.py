"""The `newsbot` command as a newcomer runs it: exit codes, JSON contracts, messages on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SEEDS
from tests.support.cli import HEAVY, imported_by, run

pytestmark = pytest.mark.slow  # a newsbot process per command


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("cli") / "store"
    proc = run("ingest", str(SEEDS), env_dir=data)
    assert "added 2" in proc.stderr
    return data


def test_ask_json_follows_the_contract(store):
    proc = run("ask", "What did Trump warn Putin about?", "--json", env_dir=store)
    answer = json.loads(proc.stdout)

    assert set(answer) == {"answer", "abstained", "model", "citations"}
    assert answer["abstained"] is False and answer["model"] == "offline-extractive"
    assert len({c["article_id"] for c in answer["citations"]}) == 2
    for c in answer["citations"]:
        assert set(c) == {"n", "article_id", "title", "source", "published", "url", "quote"}
        assert f"[{c['n']}]" in answer["answer"]


def test_ask_prints_the_answer_then_numbered_sources(store):
    out = run("ask", "What did Trump warn Putin about?", env_dir=store).stdout
    assert "Offline extractive answer" in out and "\n[1] " in out and "“" in out


def test_ask_and_brief_deliver_all_they_print_before_the_process_ends(store):
    # `ask` and `brief` end without the interpreter's teardown (rag/cli/app.py _quick_exit): what they printed must
    # all arrive, with stdout block-buffered as it is in a pipe (`run`), and with the right exit code.
    one = run("ask", "What did Trump warn Putin about?", "--json", env_dir=store, check_code=None)
    assert one.returncode == 0 and json.loads(one.stdout)["citations"]

    brief = run("brief", "--since", "2024-11-11", "--until", "2024-11-12", "--json", env_dir=store, check_code=None)
    assert brief.returncode == 0 and json.loads(brief.stdout)["stories"]

    many = run("ask", "--json", "-", env_dir=store, check_code=None,
               stdin="\n".join(["What did Trump warn Putin about?"] * 60 + ["x" * 5000]))
    rows = [json.loads(line) for line in many.stdout.splitlines()]
    assert len(many.stdout) > 65536 and len(rows) == 61  # more than a pipe buffer
    assert all(row["citations"] for row in rows[:60]) and "error" in rows[60]
    assert many.returncode == 1


@pytest.mark.parametrize("question", ["", "   ", "x" * 5000])
def test_an_empty_or_huge_question_is_a_usage_error(store, question):
    proc = run("ask", question, env_dir=store, check_code=2)
    assert "question" in proc.stderr and "Traceback" not in proc.stderr


def test_a_bad_date_option_is_a_usage_error(store):
    proc = run("ask", "What did Trump say?", "--since", "last tuesday", env_dir=store, check_code=2)
    assert "not a date" in proc.stderr


def test_ingest_exits_1_naming_each_failure_and_keeps_the_rest(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "ok.txt").write_text("A headline\n\nA body that is fine.\n")
    (folder / "empty.txt").write_bytes(b"")
    proc = run("ingest", str(folder), str(tmp_path / "missing"), env_dir=tmp_path / "s", check_code=1)

    assert "empty.txt: file is empty" in proc.stderr
    assert "missing: no such file or folder" in proc.stderr
    stats = json.loads(run("stats", "--json", env_dir=tmp_path / "s").stdout)
    assert stats["articles"] == 1


def test_ingest_without_paths_is_a_usage_error(tmp_path):
    run("ingest", env_dir=tmp_path / "s", check_code=2)


def test_sources_stats_and_remove(store, tmp_path):
    listed = json.loads(run("sources", "--json", env_dir=store).stdout)
    assert [a["published"] for a in listed] == ["2024-11-12", "2024-11-11"]
    assert set(listed[0]) == {"article_id", "title", "source", "published", "url", "chunks"}
    stats = json.loads(run("stats", "--json", env_dir=store).stdout)
    assert stats == {"library": "default", "articles": 2, "chunks": sum(a["chunks"] for a in listed),
                     "embedding_model": "all-MiniLM-L6-v2-int8-onnx", "data_dir": str(store)}

    proc = run("remove", "no-such-id", env_dir=store, check_code=1)
    assert "no article" in proc.stderr


def test_libraries_keep_articles_apart_on_the_command_line(tmp_path):
    data = tmp_path / "s"
    (tmp_path / "quokka.txt").write_text("date 2024-05-02 Quokka sanctuary opens on Rottnest\n\nA quokka sanctuary "
                                         "with 40 enclosures opened on Rottnest Island on Tuesday, rangers said.\n")
    assert "library city: 2 articles" in run("--library", "city", "ingest", str(SEEDS), env_dir=data).stderr
    run("ingest", str(tmp_path / "quokka.txt"), env_dir=data, NEWSBOT_LIBRARY="wildlife")

    listed = json.loads(run("libraries", "--json", env_dir=data).stdout)
    assert [(r["library"], r["articles"]) for r in listed] == [("city", 2), ("wildlife", 1)]
    stats = json.loads(run("stats", "--json", env_dir=data, NEWSBOT_LIBRARY="wildlife").stdout)
    assert (stats["library"], stats["articles"], stats["chunks"]) == ("wildlife", 1, listed[1]["chunks"])
    assert json.loads(run("sources", "--json", env_dir=data).stdout) == []  # nothing in "default"
    question = ["ask", "How many enclosures does the quokka sanctuary have?", "--json"]
    assert "40 enclosures" in run("-l", "wildlife", *question, env_dir=data).stdout
    assert "quokka" not in run("--library", "city", *question, env_dir=data).stdout.lower()

    [quokka] = json.loads(run("--library", "wildlife", "sources", "--json", env_dir=data).stdout)
    proc = run("--library", "city", "remove", quokka["article_id"], env_dir=data, check_code=1)
    assert "not" not in proc.stdout and f"no article with id '{quokka['article_id']}' in library 'city'" in proc.stderr
    assert json.loads(run("libraries", "--json", env_dir=data).stdout) == listed  # nothing changed
    run("--library", "wildlife", "remove", quokka["article_id"], env_dir=data)
    assert [r["library"] for r in json.loads(run("libraries", "--json", env_dir=data).stdout)] == ["city"]


@pytest.mark.parametrize("name", ["", "City News", "../etc", "x" * 65])
def test_a_bad_library_name_is_a_usage_error(tmp_path, name):
    proc = run("--library", name, "stats", env_dir=tmp_path / "s", check_code=2)
    assert "library name" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s").exists()


def test_listing_commands_read_the_registry_without_the_model_or_chroma(store):
    printed, loaded = imported_by("stats", "--json", env_dir=store)
    assert json.loads(printed)["articles"] == 2 and not loaded & HEAVY

    printed, loaded = imported_by("sources", "--json", env_dir=store)
    assert len(json.loads(printed)) == 2 and not loaded & HEAVY

    printed, loaded = imported_by("libraries", "--json", env_dir=store)
    assert json.loads(printed)[0]["articles"] == 2 and not loaded & HEAVY

    printed, loaded = imported_by("--help", env_dir=store)
    assert "ask" in printed and not loaded & HEAVY


def test_remove_deletes_the_vectors_without_loading_the_model(tmp_path):
    from rag.store.index import open_index

    from tests.conftest import make_settings

    data = tmp_path / "s"
    (tmp_path / "wombat.txt").write_text("date 2024-06-03 Wombat crossing signs go up in Tasmania\n\nRoad crews put "
                                         "up twelve wombat crossing signs near Cradle Mountain on Monday.\n")
    run("ingest", str(tmp_path / "wombat.txt"), env_dir=data)
    [article] = json.loads(run("sources", "--json", env_dir=data).stdout)

    _, loaded = imported_by("remove", article["article_id"], env_dir=data)
    assert "onnxruntime" not in loaded and "chromadb" in loaded
    index = open_index(make_settings(data))
    assert index.vectors.count() == 0 and index.list_articles() == []
