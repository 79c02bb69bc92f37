"""The offline answer as a user without an API key meets it: several-part questions answered part by part, each
part with its own verbatim quote or its own "not found" line, comparisons shown side by side, null questions
abstaining, and `newsbot ask --json -` answering a file of questions."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from rag.answering.query import Query
from rag.articles.loaders import load_paths
from rag.cli.app import app
from rag.answering.offline.answer import answer_lines
from rag.answering.offline.reader import Doc
from rag.answering.offline.regroup import YES_NO_NOTE
from rag.answering.offline.rules import ExtractiveRules
from rag.answering.models import OFFLINE_LABEL

from tests.conftest import SEEDS

SEED_BODIES = {a.article_id: a.body for a in load_paths([SEEDS])}


def _parts(answer_text: str) -> dict[str, list[str]]:
    """Each "Part n: …" heading with the quoted lines under it."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in answer_text.splitlines():
        if line.startswith("Part "):
            current = line
            parts[current] = []
        elif current and re.search(r"\[\d+\]$", line):
            parts[current].append(line)
    return parts


def _cited(answer, line: str):
    return [c for c in answer.citations if f"[{c.n}]" in line]


def test_two_part_question_on_the_seeds_is_answered_part_by_part(seeded):
    answer = seeded.ask(Query("When did the call happen and where was Trump?"))

    assert not answer.abstained and answer.answer.startswith(OFFLINE_LABEL)
    parts = _parts(answer.answer)
    assert list(parts) == ["Part 1: When did the call happen", "Part 2: Where was Trump"]
    when, where = parts.values()
    assert any(re.search(r"Sunday|Wednesday|Nov\. 6", line) for line in when)  # a sentence that gives a time
    assert any("Trump took the call from Mar-a-Lago in Florida" in line for line in where)
    for line in when + where:
        assert _cited(answer, line), line  # every quoted line carries a checked citation
    for c in answer.citations:
        assert c.quote in SEED_BODIES[c.article_id]  # verbatim
    assert len(re.findall(r"\[\d+\]$", answer.answer, re.M)) <= 4


def test_a_part_the_articles_do_not_cover_says_so_while_the_other_is_answered(seeded):
    answer = seeded.ask(Query("Where was Trump during the call, and what did the mayor of Paris say about the Eiffel Tower?"))

    assert not answer.abstained
    assert "Not found in the articles: “What did the mayor of Paris say about the Eiffel Tower”" in answer.answer
    where = _parts(answer.answer)["Part 1: Where was Trump during the call"]
    assert any("Mar-a-Lago" in line for line in where)
    assert all("Eiffel" not in c.quote for c in answer.citations)


def test_two_outlet_comparison_quotes_each_outlet_and_does_not_say_yes_or_no(store):
    answer = store.ask(Query("Does the Outlet A article say Trump warned Putin about the war in Ukraine, and does "
                             "the Outlet B article say Trump spoke with Zelensky?"))

    assert not answer.abstained
    first, second = _parts(answer.answer).items()
    assert "Outlet A" in first[0] and "Outlet B" in second[0]
    assert first[1] and {c.source for line in first[1] for c in _cited(answer, line)} == {"Outlet A"}
    assert second[1] and {c.source for line in second[1] for c in _cited(answer, line)} == {"Outlet B"}
    assert any("Zelenski" in line for line in second[1])
    assert YES_NO_NOTE in answer.answer
    assert not re.search(r"^(yes|no)\b", answer.answer, re.I | re.M)


def test_null_question_naming_outlets_and_a_made_up_band_abstains(store):
    answer = store.ask(Query("Considering a BBC report and a Reuters article about the Velvet Tigers band tour, "
                             "which city did the band play first, and did Outlet A also review their album?"))

    assert answer.abstained and answer.citations == []


# Passages written for these tests (not articles): the stub's rules on a question worded its own way.
HARBOUR = Doc(1, "Port of Elsholm opens a new ferry terminal", "Outlet A", 20240301,
              "The Port of Elsholm opened its new ferry terminal on Monday. The terminal cost 40 million euros and "
              "can handle six ferries at once. Harbour master Ines Varga said crossings to Tallin would double. "
              "Another terminal is planned for 2027.")
GAMES = Doc(2, "Review: Lantern's Keep rewards patient players", "Outlet B", 20240302,
            "Lantern's Keep lets players build their character over forty hours. Choices made at the start change "
            "which quests open later. The studio behind Lantern's Keep released two patches this month.")


def test_a_question_worded_its_own_way_is_still_answered_from_the_passage():
    lines = answer_lines("Does the Outlet A piece suggest that the portrayal of the terminal's cost in euros was "
                         "consistent with how rival outlets characterised the expense?", [HARBOUR, GAMES])

    # "suggest", "portrayal", "piece": words that point at the article; "consistent", "rival", "characterised",
    # "expense": words no passage holds, which weigh little
    assert lines == ["The terminal cost 40 million euros and can handle six ferries at once. [1]"]


def test_a_citation_shows_the_first_line_the_answer_quotes_from_its_passage(seeded):
    answer = seeded.ask(Query("When did the call happen and where was Trump?"))

    for c in answer.citations:
        lines = [line for line in answer.answer.splitlines() if line.endswith(f"[{c.n}]")]
        assert lines and c.quote == lines[0].removesuffix(f"[{c.n}]").strip()


def test_a_possessive_name_in_the_question_is_a_name_the_passages_hold():
    lines = answer_lines("Do Lantern's Keep's early choices change which quests open later?", [HARBOUR, GAMES])

    assert "Choices made at the start change which quests open later. [2]" in lines


def test_a_part_going_on_about_an_unknown_person_is_not_answered_either():
    question = "What did Tomas Brenner say about the harbour, and what did his new ferry terminal cost?"
    assert answer_lines(question, [HARBOUR, GAMES]) == []  # "his" is Brenner's, whom no passage names

    lines = answer_lines("What did Ines Varga say about the harbour, and what did the new ferry terminal cost?",
                         [HARBOUR, GAMES])
    assert "The terminal cost 40 million euros and can handle six ferries at once. [1]" in lines


def test_one_shared_word_is_not_an_answer():
    # "airport" and "soon" are in no passage, so they weigh little; "planned" alone would then cover the question
    assert answer_lines("What is planned at the airport soon?", [HARBOUR, GAMES]) == []


def test_an_answer_whose_quotes_hold_too_little_of_the_question_abstains():
    question = ("Which airline executives in parliament criticised the delayed runway expansion budget, the noise "
                "complaints and the planned terminal?")
    # "planned" and "terminal" pass the floors once the words no passage holds weigh little, but that sentence
    # holds too few of the question's words to be an answer
    assert answer_lines(question, [HARBOUR, GAMES], ExtractiveRules(min_anchor=0)) != []
    assert answer_lines(question, [HARBOUR, GAMES]) == []


def test_ask_json_dash_answers_one_json_object_per_question_line(store, monkeypatch):
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(store.settings.data_dir))
    questions = ["When did the call happen and where was Trump?", "", "   ", "x" * 1200,
                 "Who won the 2023 Champions League final?"]
    result = CliRunner().invoke(app, ["ask", "--json", "-"], input="\n".join(questions))  # no newline at EOF

    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["question"] for r in rows] == [questions[0], questions[3], questions[4]]  # blank lines ask nothing
    assert rows[0]["abstained"] is False and "Mar-a-Lago" in rows[0]["answer"]
    assert set(rows[0]) == {"question", "answer", "abstained", "model", "citations"}
    assert set(rows[1]) == {"question", "error"} and "limit is 1000" in rows[1]["error"]
    assert rows[2]["abstained"] is True  # the line after the bad one is still answered
    assert result.exit_code == 1  # a line got an error object


def test_ask_dash_without_json_is_a_usage_error(store, monkeypatch):
    monkeypatch.setenv("NEWSBOT_DATA_DIR", str(store.settings.data_dir))
    result = CliRunner().invoke(app, ["ask", "-"], input="Where was Trump?\n")

    assert result.exit_code == 2 and "--json" in result.output
