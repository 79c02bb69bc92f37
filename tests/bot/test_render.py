"""Rendering answers for Discord: every message fits Discord's limits and the sources are readable."""

from __future__ import annotations

import pytest

from bot.render import (CONTENT_LIMIT, DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT, TITLE_LIMIT, answer_messages,
                        list_messages, passages_message, split_text)
from rag.answering.models import NOT_SURE, OFFLINE_LABEL
from rag.schema import Answer, Citation, Passage


def citation(n: int, quote: str = "Finland warned of drones over Helsinki.", **kw) -> Citation:
    base = dict(n=n, article_id=f"a{n}", title=f"Drones over Helsinki {n}", source="YLE", published="2025-09-30",
                url=f"https://example.com/{n}", quote=quote)
    return Citation(**{**base, **kw})


def assert_within_limits(messages) -> None:
    assert messages
    for m in messages:
        assert m.content or m.embeds, "an empty message is a 50006"
        assert len(m.content) <= CONTENT_LIMIT
        assert len(m.embeds) <= 10
        assert sum(len(e) for e in m.embeds) <= EMBED_TOTAL_LIMIT
        for e in m.embeds:
            assert len(e.title or "") <= TITLE_LIMIT
            assert len(e.description or "") <= DESCRIPTION_LIMIT
            assert len(e.fields) <= 25 and all(len(f.value) <= 1024 for f in e.fields)


@pytest.mark.parametrize("limit", [1, 7, 50, 2000])
def test_split_text_keeps_every_word_and_respects_the_limit(limit):
    text = "Helsinki airport closed. " * 300 + "\n\n" + "x" * 4500
    pieces = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in pieces)
    assert "".join(pieces).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace("\n", "")


def test_split_text_prefers_paragraphs_then_sentences():
    first, second = "A" * 900 + ".", "B" * 900 + "."
    assert split_text(f"{first}\n\n{second}", 1000) == [first, second]
    assert split_text(f"{first} {second}", 1000) == [first, second]
    assert split_text("   ", 10) == []


def test_answer_has_markers_and_a_sources_embed_with_linked_title_outlet_date_and_quote():
    answer = Answer(answer="Finland warned of drones [1].", abstained=False, model="gpt-4o-mini",
                    citations=[citation(1)])
    [message] = answer_messages(answer)
    assert message.content == "Finland warned of drones [1]."
    [embed] = message.embeds
    assert "**[1]** [Drones over Helsinki 1](<https://example.com/1>)" in embed.description
    assert "YLE · 2025-09-30" in embed.description
    assert "> Finland warned of drones over Helsinki." in embed.description


def test_offline_answer_says_it_is_extractive():
    text = f"{OFFLINE_LABEL}\nFinland warned of drones over Helsinki. [1]"
    [message] = answer_messages(Answer(answer=text, abstained=False, model="offline-extractive",
                                       citations=[citation(1)], offline=True))
    assert message.content.startswith(OFFLINE_LABEL)
    assert "Offline extractive" in message.embeds[0].footer.text
    [abstained] = answer_messages(Answer(answer=NOT_SURE, abstained=True, model="offline-extractive", offline=True))
    assert OFFLINE_LABEL in abstained.content and NOT_SURE in abstained.content and not abstained.embeds


def test_long_answer_and_many_long_sources_stay_within_every_limit():
    huge_quote = "word " * 3000
    cites = [citation(n, quote=huge_quote, title="T" * 600, url="https://example.com/" + "p" * 3000)
             for n in range(1, 51)]
    answer = Answer(answer="The answer goes on [1]. " * 400, abstained=False, model="m", citations=cites)
    messages = answer_messages(answer)
    assert_within_limits(messages)
    assert len([m for m in messages if m.content]) >= 5
    listed = "".join(e.description for m in messages for e in m.embeds)
    assert all(f"**[{n}]**" in listed for n in range(1, 51)), "every source keeps its number"


def test_titles_with_brackets_cannot_break_the_link_and_non_web_urls_are_not_linked():
    [message] = answer_messages(Answer(answer="x [1] [2]", abstained=False, model="m", citations=[
        citation(1, title="Odd [title](https://evil.example)"), citation(2, url="javascript:alert(1)")]))
    text = message.embeds[0].description
    assert "**[1]** [Odd (title)(`https://evil.example`)](<https://example.com/1>)" in text
    assert "javascript:" not in text


def test_empty_answer_is_never_an_empty_message():
    [message] = answer_messages(Answer(answer="   ", abstained=True, model="none"))
    assert message.content.strip()


def test_source_list_pages_fit_embeds():
    lines = [f"`id{i}` 2025-09-30 · YLE — " + "title " * 30 for i in range(300)]
    assert_within_limits(list_messages("Ingested articles", lines, "none"))
    [empty] = list_messages("Ingested articles", [], "No articles are ingested yet.")
    assert empty.content == "No articles are ingested yet."


def passage(n: int, text: str) -> Passage:
    return Passage(n, f"c{n}", f"a{n}", f"Drones over Helsinki {n}", "YLE", "2025-09-30", f"https://example.com/{n}",
                   text)


def test_full_passages_fit_one_message_and_say_when_they_were_cut():
    long = "Drones were seen over the harbour at night, officials said. " * 120  # 7,200 characters each
    message = passages_message([passage(n, long) for n in range(1, 13)])
    assert_within_limits([message])
    assert "Cut to fit" in message.content and "/ask" in message.content
    assert message.embeds[0].title.startswith("[1] Drones over Helsinki")


def test_full_passages_are_neutralised_and_whole_when_they_fit():
    text = "Officials said @everyone should read [this](https://evil.example) **now**."
    message = passages_message([passage(1, text)], gone=1)
    [embed] = message.embeds
    assert "@\u200beveryone" in embed.description and "](https://evil" not in embed.description
    assert "\\*\\*now\\*\\*" in embed.description
    assert "`https://evil.example`" in embed.description
    assert "Cut to fit" not in message.content and "1 more cited passage is no longer" in message.content
