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


BOXING = ("Kiwi heavyweight Joseph Parker stunned former champion Deontay Wilder in Riyadh on Saturday. Joseph "
          "Parker's victory over Deontay Wilder came before Anthony Joshua stopped Otto Wallin.")
LAWSUIT = ("The class action antitrust suit was filed by Helena World Chronicle against Google this week. "
           "The publisher argues that Google siphons off its readers.")
FOOTBALL = ("The pressure on Manchester United has grown following their 1-0 defeat at Newcastle on Saturday. "
            "Bayern Munich came from two goals down to snatch a 2-2 draw at RB Leipzig.")
NEWS = [passage(1, BOXING, "Parker stuns Wilder", "boxing"), passage(2, LAWSUIT, "Publisher sues Google", "suit"),
        passage(3, FOOTBALL, "Weekend football", "football")]


def test_a_win_the_article_reports_is_supported_and_the_same_win_turned_round_is_contradicted():
    assert check_claim("Joseph Parker beat Deontay Wilder", NEWS).verdict == "supported"
    swapped = check_claim("Deontay Wilder beat Joseph Parker", NEWS)
    assert swapped.verdict == "contradicted"
    quote = swapped.citations[0].quote  # "stunned" and "victory over" both say Parker won
    assert ("victory over Deontay Wilder" in quote or "stunned" in quote) and "other way round" in swapped.reason


def test_roles_swapped_against_a_passive_sentence_are_contradicted_with_the_passage_quoted():
    result = check_claim("Google filed a class action antitrust suit against Helena World Chronicle", NEWS)
    assert result.verdict == "contradicted"
    assert "filed by Helena World Chronicle" in result.citations[0].quote


def test_a_win_claimed_where_the_article_reports_a_defeat_is_contradicted():
    result = check_claim("Manchester United beat Newcastle 1-0 on Saturday", NEWS)
    assert result.verdict == "contradicted"
    assert "1-0 defeat at Newcastle" in result.citations[0].quote


def test_a_changed_score_is_contradicted_and_the_right_one_supported():
    assert check_claim("Bayern Munich drew 3-3 at RB Leipzig", NEWS).verdict == "contradicted"
    assert check_claim("Bayern Munich snatched a 2-2 draw at RB Leipzig", NEWS).verdict == "supported"


def test_a_number_about_something_the_articles_never_count_is_not_found_rather_than_contradicted():
    result = check_claim("Apple agreed to pay Beeper $50 million to settle", PASSAGES)
    assert result.verdict == "not_found"


def test_a_claim_about_the_same_person_but_another_event_is_not_supported():
    assert check_claim("Deontay Wilder was arrested in Riyadh on Saturday", NEWS).verdict == "not_found"


def test_with_the_stores_embedder_a_paraphrase_is_supported_and_a_negation_still_contradicted():
    from rag.answering.check import embedder
    from rag.embeddings.embedders import LocalMiniLMEmbeddings

    embed = embedder(LocalMiniLMEmbeddings())
    text = ("Jai Opetaia delivered a brutal first-round knockout of Ellis Zorro in Saudi Arabia. Beeper Mini will be "
            "free for the time being.")
    passages = [passage(1, text, "Opetaia knocks out Zorro", "ko")]
    assert check_claim("Opetaia knocked out Ellis Zorro in the first round in Saudi Arabia", passages,
                       embed).verdict == "supported"
    assert check_claim("Beeper Mini will not be free for the time being", passages,
                       embed).verdict == "contradicted"


@pytest.mark.slow  # a newsbot process per command
def test_newsbot_check_json_gives_each_claim_its_verdict_and_quoted_citations(tmp_path):
    from tests.conftest import SEEDS
    from tests.support.cli import run

    store = tmp_path / "store"
    run("ingest", str(SEEDS), env_dir=store)
    proc = run("check", "CNN reported that Russia deployed 145 drones. Russia deployed 300 drones on November 10. "
               "Trump advised Putin to intensify the Ukraine conflict. Kim Jong Un visited Paris last week.",
               "--json", env_dir=store)
    result = json.loads(proc.stdout)
    assert set(result) == {"claims", "note"}
    assert [c["verdict"] for c in result["claims"]] == ["supported", "contradicted", "contradicted", "not_found"]
    assert all(set(c) == {"text", "verdict", "citations", "reason"} for c in result["claims"])
    assert "145 drones" in result["claims"][0]["citations"][0]["quote"]
    assert "not to intensify" in result["claims"][2]["citations"][0]["quote"]
    assert result["claims"][3]["citations"] == []
    shown = run("check", "Russia deployed 300 drones on November 10. Kim Jong Un visited Paris last week.",
                env_dir=store).stdout  # for people: each verdict that is not "supported" says why
    assert "CONTRADICTED: Russia deployed 300 drones" in shown and "why: the articles give a different number" in shown
    assert "not in the articles: Kim Jong Un" in shown and "why: no passage says this in words" in shown


def test_the_eval_reports_the_tuning_half_and_the_held_out_half_apart():
    rows = [{"claim": str(i), "label": "supported", "verdict": "supported" if i % 2 else "not_found", "reason": "",
             "seconds": 0.1} for i in range(4)]
    figures = CheckEval(rows).to_dict()
    assert figures["halves"]["even"]["accuracy"] == 0.0 and figures["halves"]["odd"]["accuracy"] == 1.0
    assert figures["accuracy"] == 0.5 and figures["p50_seconds_per_claim"] == 0.1


FLEX = ("Flexport founder Ryan Petersen took the stage in Phoenix. It was a week after he'd forced out his "
        "successor as CEO, former Amazon executive Dave Clark, so Petersen could run the show again.")
CUP = ("Newcastle will travel to Chelsea in the quarter-finals of the Carabao Cup after Chelsea knocked out "
       "Blackburn in the last round. Blackburn and Chelsea last met in 2019.")


def test_a_lower_case_claim_takes_the_articles_capitals():
    from rag.answering.check import recase

    assert recase("dave clark pushed out ryan petersen", FLEX) == "Dave Clark pushed out Ryan Petersen"


def test_a_lower_case_role_swap_is_not_supported():
    flex = [passage(1, FLEX, "Petersen is back", "flex")]
    assert check_claim("dave clark pushed out ryan petersen as flexport ceo", flex).verdict != "supported"


def test_a_quote_with_the_parties_the_other_way_round_is_not_support():
    cup = [passage(1, CUP, "Carabao Cup draw", "cup")]
    assert check_claim("blackburn knocked out chelsea in the carabao cup", cup).verdict != "supported"


def test_an_inner_capital_brand_is_a_name():
    from rag.answering.claims import names, tokens

    assert len(names(tokens("iRobot is trying to buy Amazon", "Amazon is buying iRobot."))) == 2


def test_a_negation_missing_a_word_held_in_meaning_is_contradicted_with_the_embedder():
    from rag.answering.check_rules import Candidate, conflict

    text = "Denise George, the attorney general of the US Virgin Islands, had been dismissed by the governor."
    c = Candidate(passage(1, text, "George dismissed", "vi"), text, text, 1.0, 0.9, text)

    def embed(texts):  # "fired" and "sacked" mean "dismissed"; every other word only itself
        import numpy as np
        same = {"fired": "dismissed", "sacked": "dismissed"}
        keys = sorted({same.get(t, t) for t in texts})
        return np.stack([np.eye(len(keys))[keys.index(same.get(t, t))] for t in texts])

    claim = "Denise George was never fired or sacked as attorney general"
    assert conflict(claim, c) == ""  # two words lacking in form: about something else, for all the words say
    assert "negation" in conflict(claim, c, embed)
    assert conflict("Denise George was never praised or promoted as attorney general", c, embed) == ""


def test_a_defeat_claimed_where_the_quote_says_outclassed_is_contradicted():
    text = "In Spain Real Madrid outclassed Girona 3-0 to return to the top of the league."
    liga = [passage(1, text, "Real Madrid top again", "liga")]
    assert check_claim("real madrid lost to girona", liga).verdict == "contradicted"


PEBBLE = ("The app maxed out at 3,000 daily active users, out of 20,000 registered users. "
          "Bluesky hit 1 million users in September, and Threads got 100 million sign-ups within five days.")
ALTMAN = "Sam Altman has been fired from OpenAI, the nonprofit that governs the AI startup behind ChatGPT."
PRIEST = ("In 2018, he received exorcism training in Rome, and was installed as the exorcist of the Diocese of "
          "Nashville that same year.")


def test_chat_shorthand_for_a_number_is_the_articles_number_not_a_contradiction():
    apps = [passage(1, PEBBLE, "Pebble shuts down", "pebble")]
    result = check_claim("pebble topped out at 3k daily users out of 20k registered", apps)
    assert result.verdict != "contradicted"
    assert check_claim("pebble maxed out at 3k daily active users", apps).verdict == "supported"


def test_a_number_another_passage_gives_next_to_the_same_words_is_not_contradicted_by_a_third():
    apps = [passage(1, "Pebble, which recently shut down after a year, grew to just 20,000 registered users.",
                    "Twitter alternatives", "alts"),
            passage(2, "The app maxed out at 3,000 daily active users before it shut down.", "Pebble", "pebble")]
    from rag.answering.check import embedder
    from rag.embeddings.embedders import LocalMiniLMEmbeddings

    embed = embedder(LocalMiniLMEmbeddings())  # close enough in meaning to be about the same thing
    assert check_claim("Pebble topped out at 3k daily users", apps, embed).verdict != "contradicted"
    assert check_claim("Pebble topped out at 9,000 daily users", apps, embed).verdict == "contradicted"


def test_names_in_another_order_without_a_relating_verb_between_them_are_no_role_swap():
    rome = [passage(1, PRIEST, "Nashville's exorcist", "priest")]
    assert check_claim("that nashville exorcist priest got his exorcism training in rome back in 2018",
                       rome).verdict != "contradicted"


def test_a_passive_without_by_is_no_role_swap():
    board = [passage(1, ALTMAN, "Altman out", "openai")]
    assert check_claim("OpenAI's board fired Sam Altman", board).verdict != "contradicted"
