"""The one text toolkit: sentences a reader would cut where we cut them, Porter stems, one stopword list."""

from __future__ import annotations

import pytest

from rag.text import FUNCTION_WORDS, STOPWORDS, plural, sentences, split_sentences, stem, terms

PARAGRAPH = (
    'President-elect Donald Trump spoke with Russian President Vladimir Putin in the early hours of Wednesday, '
    'Nov. 6, officials said. Dr. Jane Roe of the U.S. State Department joined at 9 a.m. and left at 11 p.m. '
    'The U.S. Senate was told on Jan. 5 that the cost rose 3.5% to No. 10 on the list. '
    'J. R. R. Tolkien’s publisher, Allen & Unwin Ltd., declined to comment. '
    '"We will respond," Mr. Smith said. "It is over." (Nobody agreed.) '
    'Troops stayed in the U.S. They left the U.K. in Sept. But did it matter? Yes!'
)
EXPECTED = [
    "President-elect Donald Trump spoke with Russian President Vladimir Putin in the early hours of Wednesday, "
    "Nov. 6, officials said.",
    "Dr. Jane Roe of the U.S. State Department joined at 9 a.m. and left at 11 p.m.",
    "The U.S. Senate was told on Jan. 5 that the cost rose 3.5% to No. 10 on the list.",
    "J. R. R. Tolkien’s publisher, Allen & Unwin Ltd., declined to comment.",
    '"We will respond," Mr. Smith said.',
    '"It is over."',
    "(Nobody agreed.)",
    "Troops stayed in the U.S.",
    "They left the U.K. in Sept.",
    "But did it matter?",
    "Yes!",
]


def test_an_abbreviation_heavy_paragraph_splits_where_a_reader_would():
    assert sentences(PARAGRAPH) == EXPECTED


def test_spans_are_verbatim_and_keep_closing_quotes():
    spans = split_sentences(PARAGRAPH)
    assert [PARAGRAPH[s:e] for s, e in spans] == EXPECTED
    assert PARAGRAPH[spans[5][0]:spans[5][1]] == '"It is over."'


def test_a_line_break_always_ends_a_sentence():
    assert sentences("Headline without a stop\nBody starts here. It goes on") == [
        "Headline without a stop", "Body starts here.", "It goes on"]


@pytest.mark.parametrize("text", ["Sales rose at Amazon.com today.", "It grew 2.5x in Q3.", "Visit www.example.com now."])
def test_dots_inside_words_and_numbers_never_split(text):
    assert sentences(text) == [text]


def test_a_lowercase_continuation_is_not_a_new_sentence():
    assert sentences("The iPhone 15 costs $799. iPhone buyers queued.") == [
        "The iPhone 15 costs $799. iPhone buyers queued."]


def test_porter_stems_match_inflections():
    assert {stem(w) for w in ("warn", "warned", "warning", "warns")} == {"warn"}
    assert stem("drones") == stem("drone")
    assert terms("Trump warned Putin about the drones") == ["trump", "warn", "putin", "drone"]


def test_one_stopword_list_with_the_reporting_words_on_top():
    assert FUNCTION_WORDS < STOPWORDS
    assert {"said", "according", "reported"} <= STOPWORDS - FUNCTION_WORDS
    assert terms("He said, according to the report, that it was") == []


def test_plurals():
    assert [plural(1, "story"), plural(2, "story"), plural(1, "article"), plural(0, "article"), plural(3, "day")] == [
        "1 story", "2 stories", "1 article", "0 articles", "3 days"]
