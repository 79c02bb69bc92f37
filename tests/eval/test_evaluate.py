"""The MultiHop-RAG scorer on hand-worked cases, and `newsbot eval multihop-rag` on a small dev slice."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rag.eval.retrieval import mean_metrics, score_query
from tests.conftest import MULTIHOP

FILL = ["nothing"] * 10


def test_scorer_hand_worked_ranks_duplicates_and_spacing():
    # hits at rank 2 ("gamma", new) and rank 4 ("alpha beta" across a newline, new; "gamma" already found);
    # the duplicated fact is counted once when found but still counts in min(#facts, 10) = 3.
    retrieved = ["no", "x gamma y", "foo", "alpha\nbeta and gamma", *FILL]
    s = score_query(retrieved, ["alpha beta", "gamma", "alpha beta"])
    assert s == {"Hits@4": 1.0, "Hits@10": 1.0, "MRR@10": 0.5, "MAP@10": pytest.approx((1 / 2 + 1 / 4) / 3)}


def test_scorer_hit_below_4_and_hit_past_10():
    late = score_query(["a", "b", "c", "d", "e", "the delta fact", *FILL], ["delta fact"])
    assert late == {"Hits@4": 0.0, "Hits@10": 1.0, "MRR@10": pytest.approx(1 / 6), "MAP@10": pytest.approx(1 / 6)}
    missed = score_query([*FILL, "the delta fact"], ["delta fact"])  # rank 11 is not scored
    assert missed == {"Hits@4": 0.0, "Hits@10": 0.0, "MRR@10": 0.0, "MAP@10": 0.0}


def test_means_over_queries():
    rows = [{"Hits@4": 1.0, "Hits@10": 1.0, "MRR@10": 0.5, "MAP@10": 0.25},
            {"Hits@4": 0.0, "Hits@10": 1.0, "MRR@10": 1 / 6, "MAP@10": 1 / 6},
            {"Hits@4": 0.0, "Hits@10": 0.0, "MRR@10": 0.0, "MAP@10": 0.0}]
    assert mean_metrics(rows) == {"Hits@4": 0.3333, "Hits@10": 0.6667, "MRR@10": 0.2222, "MAP@10": 0.1389}


@pytest.mark.skipif(not (MULTIHOP / "corpus.json").exists(), reason="MultiHop-RAG data not beside the repo")
@pytest.mark.slow
def test_eval_command_on_a_dev_slice(tmp_path, monkeypatch):
    """20 dev queries over their evidence articles plus 30 others (built at test time, never committed)."""
    from rag.cli.app import app

    queries = [q for q in json.loads((MULTIHOP / "queries_dev.json").read_text())
               if q["question_type"] != "null_query"][:20]
    corpus = json.loads((MULTIHOP / "corpus.json").read_text())
    needed = {e["url"] for q in queries for e in q["evidence_list"]}
    keep = [a for a in corpus if a["url"] in needed]
    keep += [a for a in corpus if a["url"] not in needed][:30]
    (tmp_path / "corpus.json").write_text(json.dumps(keep))
    (tmp_path / "queries.json").write_text(json.dumps(queries))
    args = ["eval", "multihop-rag", "--corpus", str(tmp_path / "corpus.json"),
            "--queries", str(tmp_path / "queries.json"), "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    result = json.loads(first.stdout.strip().splitlines()[-1])
    assert result["n"] == 20 and result["retriever"] == "hybrid" and result["chunk_tokens"] == 256
    assert sum(t["n"] for t in result["by_type"].values()) == 20
    assert result["Hits@10"] >= 0.8 and result["Hits@4"] <= result["Hits@10"]
    stores = list((tmp_path / "store").glob("eval-*"))
    assert len(stores) == 1
    dense = CliRunner().invoke(app, [*args, "--retriever", "dense"])  # reuses the store: nothing re-ingested
    assert dense.exit_code == 0, dense.output
    assert list((tmp_path / "store").glob("eval-*")) == stores
    assert json.loads(dense.stdout.strip().splitlines()[-1])["retriever"] == "dense"


@pytest.mark.parametrize("queries, reason", [
    ("{not json", "not readable JSON"),
    ('{"query": "x"}', "expected a JSON list"),
    ('[{"query": "x"}]', "entry 1 is not a MultiHop-RAG query"),
])
def test_eval_refuses_a_malformed_queries_file_before_ingesting_anything(tmp_path, queries, reason):
    from rag.cli.app import app

    (tmp_path / "queries.json").write_text(queries)
    (tmp_path / "corpus.json").write_text(json.dumps([{"title": "T", "body": "Some text.", "source": "S",
                                                       "published_at": "2023-10-01T00:00:00+00:00"}]))
    result = CliRunner().invoke(app, ["eval", "multihop-rag", "--corpus", str(tmp_path / "corpus.json"),
                                      "--queries", str(tmp_path / "queries.json")])
    assert result.exit_code == 1
    assert reason in result.output and "Traceback" not in result.output
    assert not list((tmp_path / "store").glob("eval-*"))  # nothing was ingested


def test_eval_refuses_a_corpus_with_no_readable_article(tmp_path):
    from rag.cli.app import app

    (tmp_path / "queries.json").write_text("[]")
    (tmp_path / "corpus.json").write_text("[1, 2")
    result = CliRunner().invoke(app, ["eval", "multihop-rag", "--corpus", str(tmp_path / "corpus.json"),
                                      "--queries", str(tmp_path / "queries.json")])
    assert result.exit_code == 1 and "no article could be read" in result.output
    assert not list((tmp_path / "store").glob("eval-*"))
