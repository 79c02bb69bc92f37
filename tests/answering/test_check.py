"""The message check (#29): each claim of a chat message supported, contradicted or not in the articles."""

import json
from pathlib import Path

import pytest

from rag.answering.check import MAX_CLAIMS, check_claim, check_text, split_text
from rag.errors import EvalError, QuestionError
from rag.eval.check import CheckEval, load_labels
from rag.schema import Passage

UBER = ("Uber reported third-quarter earnings on Tuesday. The company reported revenue of $9.3 billion, an 11% "
        "increase year over year. Turning to profitability, Uber reported net income of $221 million in the third "
        "quarter, compared with a net loss of $1.2 billion in the same quarter last year.")
BEEPER = ("Beeper Mini is back in operation after Apple tried to shut it down. The startup has also decided to make "
          "Beeper Mini free for the time being.")


def passage(n: int, text: str, title: str, article_id: str) -> Passage:
    return Passage(n=n, chunk_id=f"{article_id}:0", article_id=article_id, title=title, source="TechCrunch",
                   published="2023-11-07", url=f"https://example.com/{article_id}", text=text)


PASSAGES = [passage(1, UBER, "Uber's Q3 numbers", "uber"), passage(2, BEEPER, "Beeper Mini is back", "beeper")]


def test_a_claim_a_passage_states_is_supported_with_its_verbatim_quote_outlet_and_date():
    result = check_claim("Uber's revenue was $9.3 billion, up 11% year over year", PASSAGES)
    assert result.verdict == "supported"
    citation = result.citations[0]
    assert citation.quote in UBER and "$9.3 billion" in citation.quote
    assert (citation.article_id, citation.source, citation.published) == ("uber", "TechCrunch", "2023-11-07")


def test_a_changed_number_is_contradicted_and_quotes_the_passage_that_says_otherwise():
    result = check_claim("Uber reported net income of $512 million in the third quarter", PASSAGES)
    assert result.verdict == "contradicted"
    assert "$221 million" in result.citations[0].quote
    assert "512 million" in result.reason


def test_a_negated_claim_is_contradicted():
    result = check_claim("Beeper Mini will not be free for the time being", PASSAGES)
    assert result.verdict == "contradicted"
    assert "free for the time being" in result.citations[0].quote


def test_a_claim_no_passage_covers_is_not_found_and_cites_nothing():
    result = check_claim("Messi signed a contract extension with Inter Miami until 2030", PASSAGES)
    assert (result.verdict, result.citations) == ("not_found", [])


def test_a_claim_about_the_same_company_but_another_event_is_not_supported():
    assert check_claim("Uber announced it is buying Lyft", PASSAGES).verdict != "supported"


def test_a_long_message_is_cut_to_the_first_claims_with_a_note_saying_so():
    text = " ".join(f"Claim number {i} says something about Uber revenue." for i in range(MAX_CLAIMS + 3))
    claims, note = split_text(text)
    assert len(claims) == MAX_CLAIMS
    assert f"first {MAX_CLAIMS} of {MAX_CLAIMS + 3}" in note


def test_check_text_retrieves_for_each_claim_and_answers_each_in_order():
    asked = []

    def retrieve(claim: str) -> list[Passage]:
        asked.append(claim)
        return PASSAGES

    result = check_text("Uber's revenue was $9.3 billion, up 11% year over year. Beeper Mini will not be free "
                        "for the time being.", retrieve, max_chars=500)
    assert [c.verdict for c in result.claims] == ["supported", "contradicted"]
    assert len(asked) == 2 and result.note == ""
    assert json.loads(json.dumps(result.to_dict()))["claims"][1]["verdict"] == "contradicted"


@pytest.mark.parametrize("text", ["", "   ", "x" * 501])
def test_an_empty_or_too_long_text_is_refused_with_a_reason(text):
    with pytest.raises(QuestionError):
        check_text(text, lambda claim: PASSAGES, max_chars=500)


def test_the_check_labels_hold_at_least_sixty_claims_one_third_each_verdict():
    rows = load_labels(Path(__file__).parents[1] / "data" / "check_labels.json")
    counts = {label: sum(r["label"] == label for r in rows) for label in ("supported", "contradicted", "not_found")}
    assert len(rows) >= 60 and min(counts.values()) >= len(rows) // 3


def test_a_labels_file_with_an_unknown_verdict_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "labels.json"
    bad.write_text(json.dumps({"claims": [{"claim": "x", "label": "maybe"}]}))
    with pytest.raises(EvalError, match="labels.json"):
        load_labels(bad)


def test_the_eval_counts_a_contradicted_claim_called_supported_as_a_false_support():
    result = CheckEval([{"claim": "a", "label": "contradicted", "verdict": "supported", "reason": ""},
                        {"claim": "b", "label": "supported", "verdict": "supported", "reason": ""}])
    assert (result.accuracy, result.false_supported) == (0.5, 1.0)
