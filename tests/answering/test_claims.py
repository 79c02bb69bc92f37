"""Each rule of the claim check (rag/answering/claims.py, rag/answering/quantities.py) on its own, and the benchmark on a slice."""

from __future__ import annotations

import logging

import pytest

from rag.answering.citations import check_citations, split_claims
from rag.answering.claims import judge, meaning_problem, passage_sentences
from rag.text import split_clauses
from rag.answering.quantities import quantities, unsupported
from rag.schema import Passage
from rag.text import idf_table

from tests.conftest import MULTIHOP, TESTS

SOURCE = ("CNN reported on November 10 that Russia deployed 145 drones, with Kyiv responding by sending 34 drones "
          "aimed at Moscow.")
CALL = "According to The Washington Post, Trump warned Putin not to escalate the war in Ukraine."
CORPUS = MULTIHOP / "corpus.json"


def passage(text: str, title: str = "A call") -> Passage:
    return Passage(n=1, chunk_id="a:0", article_id="a", title=title, source="Outlet", published="2024-11-11",
                   url="https://example.com/a", text=text)


@pytest.mark.parametrize("claim,source", [
    ("Russia sent one hundred forty-five drones", "Russia deployed 145 drones"),
    ("on Nov. 10", "on 10 November"), ("on November 10th", "Nov. 10"),
    ("3.5 million people", "3,500,000 people"), ("twelve per cent", "12%"),
    ("some seventy leaders", "some 70 leaders"), ("in November", "on Nov. 10"),
    ("100k downloads", "100,000 downloads"), ("$25K a year", "$25,000 a year"), ("5 mil", "5 million"),
])
def test_equal_forms_of_a_quantity_match(claim, source):
    assert unsupported(claim, source) == []


@pytest.mark.parametrize("claim,source", [
    ("450 drones", "145 drones"), ("some 700 leaders", "some 70 leaders"), ("on Nov. 11", "on November 10"),
    ("12 million", "12 billion"), ("on Sunday", "on Monday"), ("12%", "12 drones"),
])
def test_a_different_quantity_does_not(claim, source):
    assert unsupported(claim, source)


def test_words_that_are_not_quantities_are_not_read_as_numbers():
    assert quantities("one of the leaders said he may go") == frozenset()


@pytest.mark.parametrize("claim,reason", [
    ("Trump did not warn Putin about the war in Ukraine.", "negates 'warn'"),
    ("Trump warned Putin to escalate the war in Ukraine.", "asserts 'escal'"),
    ("Putin warned Trump not to escalate the war in Ukraine.", "actor of 'warn'"),
    ("Trump warned Zelensky not to escalate the war in Ukraine.", "names Zelensky"),
])
def test_each_rule_names_what_is_wrong(claim, reason):
    assert reason in meaning_problem(claim, CALL, "", CALL)


def test_a_paraphrase_passes_every_rule():
    assert meaning_problem("Trump cautioned Putin against escalating the war in Ukraine.", CALL, "", CALL) == ""
    assert meaning_problem("Kyiv sent 34 drones toward Moscow.", SOURCE, "", SOURCE) == ""


def test_the_wrong_actor_is_caught_even_when_both_names_are_in_the_source():
    problem = meaning_problem("Kyiv deployed 145 drones", SOURCE, "", SOURCE,
                              "Kyiv deployed 145 drones, with Russia responding by sending 34 drones aimed at Moscow.")
    assert "actor of 'deploi'" in problem


def test_a_passive_sentence_keeps_its_roles():
    source = "Putin was warned by Trump not to escalate the war in Ukraine."
    text = source + " It was the first call between Trump and Putin."  # "Putin" is a name: capitalised mid-sentence
    assert meaning_problem("Trump warned Putin not to escalate the war in Ukraine.", source, "", text) == ""
    assert "actor" in meaning_problem("Putin warned Trump not to escalate the war in Ukraine.", source, "", text)


def test_a_swap_is_caught_when_a_name_starts_the_source_sentence():
    # "Alvarez" is capitalised only at a sentence's start in the passage; the claim has it mid-sentence
    text = "Round three was tense. Alvarez beat Brennan in the final round. The crowd cheered."
    source = "Alvarez beat Brennan in the final round."
    assert meaning_problem("Alvarez beat Brennan in the final round.", source, "", text) == ""
    assert "actor" in meaning_problem("Brennan beat Alvarez in the final round.", source, "", text)


def test_an_apposition_moved_in_front_of_the_name_keeps_the_roles():
    source = "A year ago, Dana Reyes, the co-founder of Acme, said Acme would grow."
    text = "It was a quiet launch. " + source
    assert meaning_problem("A year ago, the co-founder of Acme Dana Reyes said Acme would grow.", source, "",
                           text) == ""


def test_a_name_may_stand_for_a_pronoun_of_the_quote_but_not_replace_a_name():
    text = "Trump spoke with Putin on Sunday. He also highlighted the US military presence in Europe."
    sents = passage_sentences(text)
    idf = idf_table(t for _, t in sents)
    assert judge("Trump highlighted the US military presence in Europe.", sents, idf, text).supported
    assert not judge("Putin highlighted the Russian military presence in Asia.", sents, idf, text).supported


def test_a_name_swapped_for_one_nearby_is_caught_when_the_quote_keeps_its_pronoun():
    text = ("On Sunday Trump spoke with Putin, and Biden was not on the call. "
            "Trump said his team would meet officials in Europe.")
    sents = passage_sentences(text)
    idf = idf_table(t for _, t in sents)
    assert judge("Trump said his team would meet officials in Europe.", sents, idf, text).supported
    assert not judge("Biden said his team would meet officials in Europe.", sents, idf, text).supported
    # the pronoun written out as the name it stands for is still fine
    assert judge("Trump said Trump's team would meet officials in Europe.", sents, idf, text).supported


def test_a_claim_is_split_into_clauses_at_a_conjunction_after_a_comma():
    clauses = split_clauses("Trump warned Putin, and the two agreed to meet in Geneva; talks went on.")
    assert [c for _, c in clauses] == ["Trump warned Putin", "and the two agreed to meet in Geneva", "talks went on."]
    assert "".join(s + c for s, c in clauses) == "Trump warned Putin, and the two agreed to meet in Geneva; talks went on."


def test_every_sentence_before_a_marker_is_a_claim_of_its_own():
    assert split_claims("A moon of cheese. Trump warned Putin [1][2]. Rest.") == [
        ("A moon of cheese.", [1, 2]), ("Trump warned Putin.", [1, 2]), ("Rest.", [])]


def test_a_rider_is_cut_and_the_drop_is_logged_with_its_reason(caplog):
    with caplog.at_level(logging.DEBUG, logger="rag.answering.citations"):
        answer = check_citations(f"{CALL[:-1]}, and the two leaders agreed to meet in Geneva next month [1].",
                                 [passage(CALL)], "m")
    assert answer.answer == f"{CALL} [1]"
    assert any("cut clause" in r.message and "Geneva" in r.message for r in caplog.records)


def test_a_claim_whose_main_clause_is_false_is_dropped_whole():
    answer = check_citations("Kyiv deployed 145 drones, with Russia responding by sending 34 drones [1].",
                             [passage(SOURCE)], "m")
    assert answer.abstained and answer.citations == []


@pytest.mark.skipif(not CORPUS.exists(), reason="the dev corpus is not beside this checkout")
@pytest.mark.slow
def test_the_perturbation_benchmark_on_a_slice():
    from rag.eval.claims import build_claims, load_corpus, load_labels, score

    labels = load_labels(TESTS / "data" / "claim_labels.json")[:400]
    rows = score(build_claims(load_corpus(CORPUS), labels))
    assert rows["true_kept"]["claims"] > 100 and rows["false_rejected"]["claims"] > 200
    assert rows["true_kept"]["rate"] >= 0.97 and rows["false_rejected"]["rate"] >= 0.9


@pytest.mark.skipif(not CORPUS.exists(), reason="the dev corpus is not beside this checkout")
def test_eval_claims_prints_the_figures_as_json():
    import json

    from typer.testing import CliRunner

    from rag.cli.app import app

    labels = TESTS / "data" / "claim_labels.json"
    result = CliRunner().invoke(app, ["eval", "claims", "--corpus", str(CORPUS), "--labels", str(labels),
                                      "--limit", "30", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert rows["true_kept"]["claims"] + rows["false_rejected"]["claims"] == 30


def test_the_benchmark_replaces_a_name_with_a_name_not_with_a_common_word():
    from rag.eval.claims import variant

    # "Apple" is a name of the article, but its first occurrence is the fruit
    body = "Later, Acme hired Dana Reyes as chief executive."
    article = f"Everyone loves a good apple. {body} A spokesman for Apple said nothing."
    claim, changed = variant("entity", body, article)
    assert changed == "Apple" and claim.replace("Apple", "") != body.replace("Apple", "")


def test_a_whole_source_sentence_quoted_word_for_word_is_kept_whole():
    # its last clause ("will be without her") once read as the source negating "coach"
    sentence = ("The league suspended coach Dana Reyes for three games on Friday with the squad already travelling "
                "to the final, and although the club had hoped to block the ban, the team will be without her for "
                "the final.")
    answer = check_citations(f"{sentence} [1]", [passage(sentence + " Reyes did not comment.")], "some-model")

    assert not answer.abstained and answer.answer == f"{sentence} [1]"
    assert answer.citations[0].quote == sentence

