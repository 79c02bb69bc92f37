"""Issue #15's measurement: a scripted OpenAI-compatible model answers questions on the seeds, each claim citing
the passage it was taken from. True claims keep their citation; each false one is not shown as cited."""

from __future__ import annotations

import re

import pytest

from bot.render import answer_messages
from rag.answering.query import Query

from tests.doubles.openai_double import OpenAIDouble, Reply
from tests.support.openai_chain import doc_with, openai_chain

TRUE_CLAIMS = [
    ("What did Trump warn Putin about?", "not to escalate",
     "Trump warned Putin not to escalate the war in Ukraine [{n}].", "not to escalate"),
    ("What did Trump warn Putin about?", "not to escalate",  # a paraphrase: "against escalating"
     "In their call, Trump cautioned Putin against escalating the war in Ukraine [{n}].", "not to escalate"),
    ("How many drones did Russia deploy against Ukraine?", "145 drones",
     "Russia deployed 145 drones, with Kyiv responding by sending 34 drones aimed at Moscow [{n}].", "145 drones"),
    ("How many world leaders did Trump speak with after the election?", "some 70 world leaders",
     "Trump told NBC that he had spoken with some 70 world leaders since the election [{n}].", "70 world leaders"),
]

FALSE_CLAIMS = [
    ("a wrong number", "How many drones did Russia deploy against Ukraine?", "145 drones",
     "Russia deployed 450 drones, with Kyiv responding by sending 34 drones aimed at Moscow [{n}].", "450"),
    ("an inserted negation", "What did Trump warn Putin about?", "not to escalate",
     "Trump did not warn Putin against escalating the war in Ukraine [{n}].", "did not warn"),
    ("swapped roles", "What did Trump warn Putin about?", "not to escalate",
     "Putin warned Trump not to escalate the war in Ukraine [{n}].", "Putin warned Trump"),
    ("the wrong actor", "How many drones did Russia deploy against Ukraine?", "145 drones",
     "Kyiv deployed 145 drones, with Russia responding by sending 34 drones aimed at Moscow [{n}].", "Kyiv deployed"),
    ("an invented rider", "What did Trump warn Putin about?", "not to escalate",
     "Trump warned Putin not to escalate the war in Ukraine, and the two leaders agreed to meet in Geneva next "
     "month [{n}].", "Geneva"),
    ("a wrong count", "How many world leaders did Trump speak with after the election?", "some 70 world leaders",
     "Trump told NBC that he had spoken with some 700 world leaders since the election [{n}].", "700"),
]


def shown(claim: str) -> str:
    """A claim as the checked answer shows it: the marker, renumbered, after the stop."""
    return claim.replace(" [{n}].", ". [1]")


def ask(seeded, question: str, needle: str, template: str):
    with OpenAIDouble() as api:
        where = doc_with(needle)
        api.script(Reply(lambda body: template.format(n=where(body))))
        return openai_chain(seeded, api.base_url).invoke(Query(question))


@pytest.mark.parametrize("question,needle,claim,quoted", TRUE_CLAIMS, ids=["verbatim", "paraphrase", "drones",
                                                                           "leaders"])
def test_a_true_claim_keeps_its_citation(seeded, question, needle, claim, quoted):
    answer = ask(seeded, question, needle, claim)

    assert not answer.abstained
    assert answer.answer == shown(claim)
    [citation] = answer.citations
    assert quoted in citation.quote


@pytest.mark.parametrize("kind,question,needle,claim,wrong", FALSE_CLAIMS, ids=[c[0] for c in FALSE_CLAIMS])
def test_a_false_claim_is_not_shown_as_cited(seeded, kind, question, needle, claim, wrong):
    answer = ask(seeded, question, needle, claim)

    assert wrong not in answer.answer
    if kind == "an invented rider":  # the supported clause stays, with its quote; the rider is cut
        assert answer.answer == "Trump warned Putin not to escalate the war in Ukraine. [1]"
        assert "not to escalate" in answer.citations[0].quote
    else:
        assert answer.abstained and answer.citations == []


def test_each_sentence_before_one_marker_is_its_own_claim(seeded):
    answer = ask(seeded, "What did Trump warn Putin about?", "not to escalate",
                 "The moon is made of cheese. Trump warned Putin not to escalate the war in Ukraine [{n}].")

    assert "cheese" not in answer.answer
    assert answer.answer == "Trump warned Putin not to escalate the war in Ukraine. [1]"


def test_links_and_pings_in_a_checked_answer_are_neutralised_on_the_wire(seeded):
    answer = ask(seeded, "What did Trump warn Putin about?", "not to escalate",
                 "# Sources\n@everyone Trump warned Putin not to escalate the war in Ukraine, "
                 "[The Washington Post](https://evil.example/login) reported (see https://evil.example/x) [{n}].")
    [message] = answer_messages(answer)
    sent = message.kwargs()

    assert "escalate" in answer.answer and answer.citations  # the claim was supported and kept
    content = sent["content"]
    assert "](" not in content and "@everyone" not in content and not content.startswith("#")
    assert re.findall(r"https?://\S+", re.sub(r"`[^`]*`", "", content)) == []  # every URL sits in code
    assert "`https://evil.example/login`" in content
    assert sent["allowed_mentions"].everyone is False and sent["allowed_mentions"].users is False
    links = re.findall(r"\]\(<?(https?://[^)>]+)", sent["embeds"][0].description)
    assert links == [c.url for c in answer.citations if c.url]  # the only links: the cited articles' own
