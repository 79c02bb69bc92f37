"""Condensing a follow-up with its conversation into a standalone question."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeListChatModel

from rag.answering.followup import condense, format_history, with_key_terms
from rag.answering.models import ExtractiveStubModel, OFFLINE_LABEL

HISTORY = [("What did Finland say about drones over Helsinki airport?",
            f"{OFFLINE_LABEL}\nFinland warned of drones over Helsinki airport. [1]")]


def test_without_history_the_question_is_unchanged():
    assert condense(ExtractiveStubModel(), [], "  Who closed the airport? ") == "Who closed the airport?"


def test_stub_adds_the_previous_questions_key_terms():
    out = condense(ExtractiveStubModel(), HISTORY, "And what did Sweden do?")
    assert out.startswith("And what did Sweden do?")
    for word in ("Finland", "drones", "Helsinki", "airport"):
        assert word in out
    assert with_key_terms("Drones over Helsinki?", "What about Helsinki?") == "What about Helsinki? (Drones)"


def test_a_real_model_rewrites_the_follow_up_with_the_conversation():
    seen = []

    class Recording(FakeListChatModel):
        def _call(self, messages, *args, **kwargs):
            seen.append(messages[-1].content)
            return super()._call(messages, *args, **kwargs)

    llm = Recording(responses=['Standalone question: "What did Sweden say about drones over Helsinki airport?"'])
    assert condense(llm, HISTORY, "And Sweden?") == "What did Sweden say about drones over Helsinki airport?"
    assert "User: What did Finland say" in seen[0] and "And Sweden?" in seen[0]
    assert OFFLINE_LABEL not in seen[0] and "[1]" not in seen[0]


def test_a_failing_model_falls_back_to_key_terms():
    class Broken(FakeListChatModel):
        def _call(self, *args, **kwargs):
            raise RuntimeError("server down")

    out = condense(Broken(responses=["x"]), HISTORY, "And Sweden?")
    assert out.startswith("And Sweden?") and "Helsinki" in out


def test_history_keeps_the_latest_turns_and_clips_long_answers():
    history = [(f"question {i}", "answer " * 500) for i in range(6)]
    text = format_history(history)
    assert "question 0" not in text and "question 5" in text
    assert all(len(line) < 700 for line in text.splitlines())


def test_services_condense_uses_the_conversation(seeded):
    out = seeded.condense(HISTORY, "What did the airport do?")
    assert "Finland" in out and "drones" in out
