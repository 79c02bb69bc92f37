"""The question parser: outlets matched against the store's own sources, and dates / windows."""

from __future__ import annotations

import pytest

from rag.retrieval.question import OutletMatcher, parse_dates, parse_question, strip_meta

SOURCES = ["TechCrunch", "The Verge", "Fortune", "The Age", "Sporting News", "The Independent - Life and Style",
           "The Independent - Sports", "The Roar | Sports Writers Blog", "CBSSports.com", "Engadget",
           "BBC News - Technology", "Hacker News"]
VOCAB = {"verge", "fortune", "age", "independent", "sporting", "news", "roar", "sports", "writers", "blog",
         "life", "style", "hacker", "technology", "the", "made", "on", "of", "a"}


@pytest.fixture(scope="module")
def matcher() -> OutletMatcher:
    return OutletMatcher(SOURCES, VOCAB)


def found(matcher, q):
    return [sorted(x[2]) for x in matcher.find(q)]


def test_plain_and_quoted_outlets_longest_alias_wins(matcher):
    assert found(matcher, "Does 'The Verge' article agree with TechCrunch?") == [["The Verge"], ["TechCrunch"]]
    assert found(matcher, "as reported by The Independent - Life and Style") == [["The Independent - Life and Style"]]
    assert found(matcher, "according to The Roar and CBSSports.com") == [["The Roar | Sports Writers Blog"],
                                                                         ["CBSSports.com"]]


def test_outlet_family_name_means_all_its_sections(matcher):
    assert found(matcher, "according to The Independent") == [["The Independent - Life and Style",
                                                                "The Independent - Sports"]]


def test_distinctive_names_ignore_case_and_small_misspellings(matcher):
    assert found(matcher, "a techcrunch piece and an Engadget review") == [["TechCrunch"], ["Engadget"]]
    assert found(matcher, "as reported by TechCrunh and Engadgett") == [["TechCrunch"], ["Engadget"]]


def test_outlets_not_in_the_store_are_not_found(matcher):
    assert found(matcher, "a Bloomberg article and a Forbes report") == []


def test_ordinary_word_outlets_need_their_capitals(matcher):
    assert found(matcher, "the company made a fortune and is on the verge of collapse in the age of AI") == []
    assert found(matcher, "the sporting news of the day") == []
    assert found(matcher, "Fortune and The Age reported") == [["Fortune"], ["The Age"]]


def test_dates_months_and_before_after_windows():
    d = parse_dates("published on October 4, 2023, and the one after 7 November 2023 or in December 2023")
    assert [(x.lo, x.hi, x.kind) for x in d] == [(20231004, 20231004, "day"), (20231108, 99999999, "after"),
                                                 (20231201, 20231231, "month")]
    d = parse_dates("before December 1st, 2023")
    assert (d[0].lo, d[0].hi, d[0].kind) == (0, 20231130, "before")
    assert [(x.lo, x.hi) for x in parse_dates("since 2023-09-30")] == [(20231001, 99999999)]


def test_an_iso_date_and_time_is_one_date_whole():
    q = "the report published at '2023-10-20T21:30:00+00:00' and the one at 2023-12-12T22:38:05Z"
    assert [(q[d.start:d.end], d.lo) for d in parse_dates(q)] == [("2023-10-20T21:30:00+00:00", 20231020),
                                                                  ("2023-12-12T22:38:05Z", 20231212)]


def test_dates_attach_to_the_outlet_mentioned_before_them(matcher):
    q = ("Between the TechCrunch report published on October 2, 2023, and the Fortune one "
         "published on October 7, 2023, did it change?")
    p = parse_question(q, matcher)
    assert [(sorted(g[0]), [x.lo for x in g[1]]) for g in p.groups] == [(["TechCrunch"], [20231002]),
                                                                       (["Fortune"], [20231007])]
    stripped = strip_meta(q, p)
    assert "TechCrunch" not in stripped and "2023" not in stripped and "change" in stripped


def test_a_clause_is_stripped_of_its_outlet_and_dates_without_parsing_it_again(matcher):
    from rag.retrieval.question import strip_meta_in

    q = ("Did TechCrunch report on October 2, 2023 that the startup raised money, while The Verge said in "
         "November that it laid off staff?")
    p = parse_question(q, matcher)
    for (_, _, seg), spans in zip(p.groups, p.spans):
        assert " ".join(strip_meta_in(q, p, spans).split()) == " ".join(
            strip_meta(seg, parse_question(seg, matcher)).split())
    assert "TechCrunch" not in strip_meta_in(q, p, p.spans[0]) and "October" not in strip_meta_in(q, p, p.spans[0])


def test_outlets_written_with_non_ascii_letters_are_still_found():
    """The matcher only tries the aliases whose first word is in the question; case folding beyond ASCII must not
    hide one (re.I folds "İ" and "ſ", lower() does not)."""
    m = OutletMatcher(["Istanbul Times", "İzmir Daily", "Reuters", "Le Télégramme"], set())
    assert found(m, "What did İstanbul Times say?") == [["Istanbul Times"]]
    assert found(m, "what did izmir daily report?") == [["İzmir Daily"]]
    assert found(m, "Did REUTERſ agree?") == [["Reuters"]]
    assert found(m, "Le Télégramme’s report") == [["Le Télégramme"]]
    assert found(m, "Reuters’ view vs the İzmir Daily") == [["Reuters"], ["İzmir Daily"]]
