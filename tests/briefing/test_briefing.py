"""Daily briefings as a reader meets them: one story per event across outlets, checked summaries, Discord-sized."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import date

import pytest

from bot.briefing_render import briefing_messages
from rag.articles.formats import record_to_article
from rag.articles.loaders import load_paths
from rag.briefing.build import Briefing, SourceRef, Story, lead_vectors, _load_docs, build_briefing
from rag.cli.common import resolve_range
from rag.briefing.text import briefing_lines, claim_line
from rag.briefing.corroborate import StoryArticle, corroborate
from rag.text import date_to_int
from rag.answering.models import make_chat_model
from rag.schema import Citation

from tests.conftest import MULTIHOP, SEEDS, make_settings
from tests.doubles.openai_double import OpenAIDouble, Reply

SEED_FILES = sorted(SEEDS.iterdir())
SEEDS_RANGE = (date(2024, 11, 11), date(2024, 11, 12))


@pytest.fixture(scope="module")
def two_outlets(tmp_path_factory):
    """The seeds as two outlets (the files name none, so each gets its own with --source)."""
    from rag.services import build_services

    services = build_services(make_settings(tmp_path_factory.mktemp("outlets")))
    for path, outlet in zip(SEED_FILES, ("Outlet A", "Outlet B")):
        assert services.index.ingest(load_paths([path], source=outlet)).ok
    return services


def markers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\[(\d+)\]", text)}


def assert_fits_discord(briefing: Briefing) -> None:
    for message in briefing_messages(briefing, late=True):
        assert message.content or message.embeds
        assert len(message.content) <= 2000
        for embed in message.embeds:
            assert len(embed.title or "") <= 256 and len(embed.description or "") <= 4096 and len(embed) <= 6000


def test_the_seeds_are_one_story_reported_by_two_outlets_with_both_cited(two_outlets):
    briefing = two_outlets.briefing(*SEEDS_RANGE)

    [story] = briefing.stories
    assert story.outlets == 2 and {s.source for s in story.sources} == {"Outlet A", "Outlet B"}
    assert story.headline == "Trump Warns Putin Over Ukraine War in First Call Since Election Win"
    assert {c.source for c in story.citations} == {"Outlet A", "Outlet B"}
    assert 2 <= len(re.findall(r"(?:\[\d+\])+", story.summary)) <= 4
    assert markers(story.summary) == {c.n for c in story.citations}
    by_title = {a.title: a.body for a in load_paths([SEEDS])}
    for c in story.citations:
        assert c.quote in by_title[c.title]
    assert "Offline extractive" not in story.summary and briefing.offline
    assert_fits_discord(briefing)


def test_a_claim_both_seeds_support_names_both_outlets_everywhere(two_outlets):
    briefing = two_outlets.briefing(*SEEDS_RANGE)
    [story] = briefing.stories
    [warned] = [c for c in story.claims if "warned Putin not to escalate the war in Ukraine" in c.text]
    assert sorted(warned.outlets) == ["Outlet A", "Outlet B"] and len(warned.citations) == 1
    assert f"{warned.text} [{warned.citations[0]}] (reported by 2 outlets: " in "\n".join(briefing_lines(briefing))
    [embed] = briefing_messages(briefing)[1].embeds
    assert "(reported by 2 outlets: Outlet" in embed.description


def test_a_claim_is_credited_to_the_outlets_whose_articles_support_it_and_no_others():
    game = StoryArticle("a", "A", "Outlet A", "2024-11-11", None, (
        "The Lakers beat the Celtics in overtime on Sunday night. LeBron James scored 40 points."))
    call = StoryArticle("b", "B", "Outlet B", "2024-11-12", None, (
        "Trump warned Putin not to escalate the war in Ukraine, The Washington Post reported."))
    recap = StoryArticle("c", "C", "Outlet C", "2024-11-12", None, (
        "Los Angeles needed overtime: the Lakers beat the Celtics 110-105. James finished with 40."))
    cited = [Citation(1, "b", "B", "Outlet B", "2024-11-12", None, "Trump warned Putin"),
             Citation(2, "a", "A", "Outlet A", "2024-11-11", None, "The Lakers beat the Celtics")]
    claims = corroborate("Trump warned Putin not to escalate the war in Ukraine. [1]\n"
                         "The Lakers beat the Celtics in overtime. [2]", cited, [game, call, recap], "m")
    assert [(c.citations, c.outlets) for c in claims] == [([1], ["Outlet B"]), ([2], ["Outlet A", "Outlet C"])]
    assert "reported by" not in claim_line(claims[0]) and "(reported by 2 outlets: Outlet A, Outlet C)" in (
        claim_line(claims[1]))


def test_a_seven_day_window_keeps_an_event_reported_on_two_days_as_one_story(two_outlets):
    briefing = two_outlets.briefing(date(2024, 11, 6), date(2024, 11, 12))
    [story] = briefing.stories
    assert sorted(s.published for s in story.sources) == ["2024-11-11", "2024-11-12"]
    assert story.to_dict()["dates"] == {"since": "2024-11-11", "until": "2024-11-12"}
    assert "(reported by 2 outlets; 2024-11-11 to 2024-11-12)" in "\n".join(briefing_lines(briefing))


def test_plurals_in_the_cli_and_discord_headings(two_outlets):
    briefing = two_outlets.briefing(*SEEDS_RANGE)
    assert briefing_lines(briefing)[0].startswith("Briefing for 2024-11-11 to 2024-11-12: 1 story from 2 articles")
    assert ": 1 story from 2 articles," in briefing_messages(briefing)[0].content
    one = two_outlets.briefing(date(2024, 11, 12))
    assert "1 story from 1 article" in briefing_lines(one)[0]


def test_one_day_holds_one_seed_and_a_day_without_articles_is_empty(two_outlets):
    assert [len(s.sources) for s in two_outlets.briefing(date(2024, 11, 12)).stories] == [1]
    empty = two_outlets.briefing(date(2024, 1, 1))
    assert empty.stories == [] and empty.to_dict() == {"date": "2024-01-01", "stories": []}
    [message] = briefing_messages(empty)
    assert "No articles for 2024-01-01" in message.content


def test_json_follows_the_contract(two_outlets):
    data = json.loads(json.dumps(two_outlets.briefing(*SEEDS_RANGE).to_dict()))
    assert data["date"] == {"since": "2024-11-11", "until": "2024-11-12"}
    [story] = data["stories"]
    assert set(story) == {"headline", "summary", "dates", "sources", "citations", "claims"}
    assert story["dates"] == {"since": "2024-11-11", "until": "2024-11-12"}
    assert story["claims"] and all(set(c) == {"text", "citations", "outlets"} for c in story["claims"])
    assert {n for c in story["claims"] for n in c["citations"]} == {c["n"] for c in story["citations"]}
    for source in story["sources"]:
        assert set(source) == {"article_id", "title", "source", "published", "url"}
    for c in story["citations"]:
        assert set(c) == {"n", "article_id", "title", "source", "published", "url", "quote"}


def test_unknown_outlets_count_each_article_as_its_own(seeded):
    [story] = seeded.briefing(*SEEDS_RANGE).stories
    assert {s.source for s in story.sources} == {None} and story.outlets == 2


def test_a_real_models_summary_is_checked_like_an_answer(two_outlets):
    def reply(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        n = re.search(r"<doc id='(\d+)'[^>]*>[^<]*not to escalate", prompt).group(1)
        return (f"Trump warned Putin not to escalate the war in Ukraine [{n}][7]. "
                "The Lakers beat the Celtics in overtime [1].")

    settings = make_settings(two_outlets.settings.data_dir, llm="openai", openai_api_key="sk-test",
                             openai_model="double-model")
    with OpenAIDouble() as api:
        api.script(Reply(reply))
        llm = make_chat_model(settings.model_copy(update={"openai_base_url": api.base_url}))
        briefing = build_briefing(two_outlets.index, llm, *SEEDS_RANGE)
    [story] = briefing.stories
    assert "briefing" in api.requests[0]["json"]["messages"][0]["content"]
    assert story.summary == "Trump warned Putin not to escalate the war in Ukraine. [1]"
    assert len(story.citations) == 1 and "escalate" in story.citations[0].quote
    assert briefing.model == "double-model" and not briefing.offline


@pytest.mark.parametrize("args,expected", [
    (dict(day="2024-11-11"), (date(2024, 11, 11), date(2024, 11, 11))),
    (dict(), (date(2024, 11, 11), date(2024, 11, 12))),
    (dict(since="24h"), (date(2024, 11, 11), date(2024, 11, 12))),
    (dict(since="7d"), (date(2024, 11, 5), date(2024, 11, 12))),
    (dict(since="2024-11-01", until="2024-11-03"), (date(2024, 11, 1), date(2024, 11, 3))),
    (dict(day="yesterday"), (date(2024, 11, 11), date(2024, 11, 11))),
])
def test_date_options(args, expected):
    assert resolve_range(**args, today=date(2024, 11, 12)) == expected


@pytest.mark.parametrize("args", [dict(day="soon"), dict(day="2024-11-11", since="7d"),
                                  dict(since="2024-11-05", until="2024-11-01")])
def test_bad_date_options_say_why(args):
    with pytest.raises(ValueError, match="date|--"):
        resolve_range(**args, today=date(2024, 11, 12))


def test_a_huge_story_still_fits_discord():
    sources = [SourceRef(f"id{i}", "T" * 500, f"Outlet {i}", "2024-11-11", f"https://x.test/{i}") for i in range(60)]
    citations = [Citation(i, f"id{i}", "T" * 500, f"Outlet {i}", "2024-11-11", f"https://x.test/{i}", "q" * 900)
                 for i in range(1, 40)]
    story = Story("H" * 400, "word " * 2000, sources, citations)
    briefing = Briefing(date(2024, 11, 11), date(2024, 11, 11), [story] * 12, articles=720, omitted=3)
    assert_fits_discord(briefing)
    assert len(briefing_messages(briefing)) == 13
    assert "Reported by 60 outlets" in briefing_messages(briefing)[1].embeds[0].description


# ---- a busy day from MultiHop-RAG (read from ../shared, never copied) ---------------------------


@pytest.fixture(scope="module")
def busy_day(tmp_path_factory):
    corpus = MULTIHOP / "corpus.json"
    if not corpus.exists():
        pytest.skip("MultiHop-RAG corpus not found beside the repo")
    from rag.services import build_services

    records = json.loads(corpus.read_text(encoding="utf-8"))
    day = Counter(r["published_at"][:10] for r in records).most_common(1)[0][0]
    articles = [record_to_article(r, f"corpus {i}", None) for i, r in enumerate(records)
                if r["published_at"][:10] == day]
    services = build_services(make_settings(tmp_path_factory.mktemp("busy")))
    assert services.index.ingest(articles).ok
    category = {a.article_id: r["category"] for a, r in zip(
        articles, [r for r in records if r["published_at"][:10] == day])}
    return services, date.fromisoformat(day), {a.article_id: a for a in articles}, category


@pytest.mark.slow
def test_a_busy_day_groups_every_article_once_with_valid_citations(busy_day):
    services, day, articles, category = busy_day
    briefing = services.briefing(day, max_stories=None)

    placed = [s.article_id for story in briefing.stories for s in story.sources]
    assert sorted(placed) == sorted(articles), "every article in exactly one story"
    assert 1 < len(briefing.stories) < len(articles)
    assert max(story.outlets for story in briefing.stories) >= 2
    coverage = [(story.outlets, len(story.sources)) for story in briefing.stories]
    assert coverage == sorted(coverage, reverse=True), "most covered first"
    for story in briefing.stories:
        assert story.headline in {s.title for s in story.sources}
        assert markers(story.summary) == {c.n for c in story.citations} and story.citations
        assert 1 <= len(re.findall(r"(?:\[\d+\])+", story.summary)) <= 4
        for c in story.citations:
            assert c.quote and c.quote in articles[c.article_id].body
    assert_fits_discord(briefing)


@pytest.mark.slow
def test_a_busy_day_keeps_clearly_different_subjects_apart(busy_day):
    services, day, articles, category = busy_day
    briefing = services.briefing(day, max_stories=None)
    docs = _load_docs(services.index, services.index.articles_between(date_to_int(day), date_to_int(day)))
    vectors = dict(zip((d.meta.article_id for d in docs), lead_vectors(services.index, docs)))
    for story in briefing.stories:
        ids = [s.article_id for s in story.sources]
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                unrelated = category[a] != category[b] and float(vectors[a] @ vectors[b]) < 0.5
                assert not unrelated, (articles[a].title, articles[b].title)
    # Categories of the day are at least as many stories: sport, business and entertainment never merge.
    assert len(briefing.stories) >= len(set(category.values()))


@pytest.mark.slow
def test_newsbot_brief_prints_the_json_contract_and_rejects_mixed_date_options(tmp_path):
    from tests.support.cli import run

    store = tmp_path / "store"
    run("ingest", str(SEED_FILES[0]), "--source", "Outlet A", env_dir=store)
    run("ingest", str(SEED_FILES[1]), "--source", "Outlet B", env_dir=store)
    data = json.loads(run("brief", "--since", "2024-11-11", "--until", "2024-11-12", "--json", env_dir=store).stdout)
    assert data["date"] == {"since": "2024-11-11", "until": "2024-11-12"}
    assert [len(s["sources"]) for s in data["stories"]] == [1 + 1]
    text = run("brief", "--date", "2024-11-12", env_dir=store).stdout
    assert "reported by 1 outlet)" in text and "[1]" in text
    proc = run("brief", "--date", "2024-11-12", "--since", "7d", env_dir=store, check_code=2)
    assert "--date alone" in proc.stderr and "Traceback" not in proc.stderr
