"""The story-grouping scorer on a hand-worked example, and the labels file it reads."""

from __future__ import annotations

import json

import pytest

from rag.errors import EvalError
from rag.eval.stories import bcubed, load_labels, pairwise

from tests.conftest import TESTS

# Labelled: {a, b, c} one story, {d, e} another. Predicted: {a, b}, {c, d}, {e}.
GOLD = {"a": "s1", "b": "s1", "c": "s1", "d": "s2", "e": "s2"}
PREDICTED = [["a", "b"], ["c", "d"], ["e"]]


def test_bcubed_by_hand():
    # precision per item: a 2/2, b 2/2, c 1/2, d 1/2, e 1/1 -> 4/5
    # recall per item:    a 2/3, b 2/3, c 1/3, d 1/2, e 1/2 -> (8/3)/5 = 8/15
    # F1 = 2 * 0.8 * 8/15 / (0.8 + 8/15) = 0.64
    assert bcubed(PREDICTED, GOLD) == {"bcubed_precision": 0.8, "bcubed_recall": 0.5333, "bcubed_f1": 0.64}


def test_pairwise_by_hand():
    # predicted pairs ab, cd; labelled pairs ab, ac, bc, de; right: ab -> P 1/2, R 1/4, F1 1/3
    assert pairwise(PREDICTED, GOLD) == {"pairwise_precision": 0.5, "pairwise_recall": 0.25,
                                         "pairwise_f1": 0.3333}


def test_perfect_and_all_in_one():
    perfect = [["a", "b", "c"], ["d", "e"]]
    assert bcubed(perfect, GOLD)["bcubed_f1"] == 1.0 and pairwise(perfect, GOLD)["pairwise_f1"] == 1.0
    lumped = bcubed([list(GOLD)], GOLD)
    assert lumped["bcubed_recall"] == 1.0 and lumped["bcubed_precision"] == pytest.approx((3 * 3 / 5 + 2 * 2 / 5) / 5, abs=1e-4)


def test_unlabelled_articles_in_a_group_are_not_scored():
    assert bcubed([["a", "b", "x"], ["c"], ["d", "e"]], GOLD)["bcubed_precision"] == 1.0


def test_the_shipped_labels_cover_enough_days_and_articles_without_article_text():
    labels = load_labels(TESTS / "data" / "story_labels.json")
    days = {label.published for label in labels}
    assert len(days) >= 6 and len(labels) >= 100
    raw = json.loads((TESTS / "data" / "story_labels.json").read_text(encoding="utf-8"))
    assert all(set(row) == {"published", "source", "title", "story"} for row in raw["articles"])


def test_a_bad_labels_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "labels.json"
    bad.write_text('{"articles": [{"title": "x", "story": "s"}]}', encoding="utf-8")
    with pytest.raises(EvalError, match="entry 1 needs published"):
        load_labels(bad)
    bad.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(EvalError, match="not readable JSON"):
        load_labels(bad)
