"""The backbone as a user meets it: ingest the seeds, ask, get checked citations or an honest abstention."""

from __future__ import annotations

from rag.answering.query import Query
from rag.articles.loaders import load_paths
from rag.answering.models import OFFLINE_LABEL

from tests.conftest import SEEDS

SEED_BODIES = {a.article_id: a.body for a in load_paths([SEEDS])}


def test_answer_about_the_call_cites_both_outlets_with_verbatim_quotes(seeded):
    answer = seeded.ask(Query("What did Trump warn Putin about?"))

    assert not answer.abstained
    assert answer.answer.startswith(OFFLINE_LABEL)
    assert {c.article_id for c in answer.citations} == set(SEED_BODIES)
    assert "warned Putin not to escalate the war in Ukraine" in answer.answer
    for c in answer.citations:
        assert c.quote and c.quote in SEED_BODIES[c.article_id]
        assert f"[{c.n}]" in answer.answer
        assert c.published in {"2024-11-11", "2024-11-12"}


def test_every_marker_in_the_answer_resolves_to_a_citation(seeded):
    import re

    answer = seeded.ask(Query("Who did Trump speak with after the election?"))
    shown = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert shown == {c.n for c in answer.citations}


def test_question_the_seeds_do_not_cover_abstains(seeded):
    answer = seeded.ask(Query("Who won the 2023 Champions League final?"))

    assert answer.abstained
    assert answer.citations == []
    assert "don't cover" in answer.answer


def test_date_filter_outside_the_seeds_abstains(seeded):
    answer = seeded.ask(Query("What did Trump warn Putin about?", since=20250101))
    assert answer.abstained


def test_source_filter_keeps_to_that_outlet(tmp_path):
    from rag.services import build_services

    from tests.conftest import make_settings

    services = build_services(make_settings(tmp_path / "s"))
    services.index.ingest(load_paths([SEEDS / "000_ad6ac7b2e4fb9f23.txt"], source="Outlet A"))
    services.index.ingest(load_paths([SEEDS / "002_dd306845dcd00731.txt"], source="Outlet B"))
    answer = services.ask(Query("What did Trump tell Putin?", source="Outlet B"))
    assert answer.citations and {c.source for c in answer.citations} == {"Outlet B"}
