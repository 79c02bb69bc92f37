"""Reliability, model faults and secrets (issue #6, items 3 and 6): against a local OpenAI double, every fault ends in
bounded retries then the labelled offline answer, never a traceback, an unchecked citation or a leaked key."""

from __future__ import annotations

import json
import logging
import re
import socket
import subprocess
from pathlib import Path

import pytest

from rag.answering.query import Query
from rag.answering.models import OFFLINE_LABEL, STUB_MODEL_NAME

from tests.conftest import ROOT, SEEDS
from tests.doubles.openai_double import OpenAIDouble, Reply
from tests.support.cli import newsbot
from tests.support.openai_chain import SECRET, doc_with, openai_chain

pytestmark = pytest.mark.slow  # bounded retries against a model double, and newsbot processes

QUESTION = "What did Trump warn Putin about?"
TOKEN = "discord-token-never-print-me-456"
GOOD = lambda body: f"Trump warned Putin not to escalate the war in Ukraine [{doc_with('not to escalate')(body)}]."  # noqa: E731


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_offline(answer) -> None:
    assert answer.model == STUB_MODEL_NAME and answer.offline and answer.answer.startswith(OFFLINE_LABEL)
    assert answer.citations and {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)} == {
        c.n for c in answer.citations}


FAULTS = {
    "timeout": Reply(GOOD, delay_s=2.0),
    "500": Reply(status=500),
    "429": Reply(status=429, headers={"retry-after": "0"}),
    "malformed JSON": Reply(raw=b'{"choices": [{"message": '),
    "empty content": Reply(""),
    "dropped connection": Reply(drop=True),
}
# How many requests a fault costs with llm_max_retries=2: the openai client retries timeouts, 429, 5xx and dropped
# connections; a 200 with a bad or empty body is not retried (a retry would cost money for the same reply).
ATTEMPTS = {"timeout": 3, "500": 3, "429": 3, "malformed JSON": 1, "empty content": 1, "dropped connection": 3}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_is_retried_a_bounded_number_of_times_then_answered_offline(seeded, fault, caplog):
    with OpenAIDouble() as api:
        api.default = FAULTS[fault]
        with caplog.at_level(logging.WARNING, logger="rag.answering.models"):
            answer = openai_chain(seeded, api.base_url, llm_max_retries=2, llm_timeout_s=0.5).invoke(Query(QUESTION))

    assert len(api.requests) == ATTEMPTS[fault]
    assert_offline(answer)
    [warning] = [r.getMessage() for r in caplog.records if r.name == "rag.answering.models"]
    assert warning.startswith("the chat model failed (") and SECRET not in warning


def test_connection_refused_falls_back_and_says_why(seeded, caplog):
    with caplog.at_level(logging.WARNING, logger="rag.answering.models"):
        answer = openai_chain(seeded, f"http://127.0.0.1:{dead_port()}/v1", llm_max_retries=1).invoke(Query(QUESTION))
    assert_offline(answer)
    assert any("ConnectionError" in r.getMessage() for r in caplog.records)


def test_a_429_is_retried_after_the_servers_retry_after_then_the_model_answers(seeded):
    with OpenAIDouble() as api:
        api.script(Reply(status=429, headers={"retry-after": "1"}), Reply(GOOD))
        answer = openai_chain(seeded, api.base_url, llm_max_retries=2).invoke(Query(QUESTION))

    assert len(api.requests) == 2 and api.times[1] - api.times[0] >= 0.9  # it waited as the server asked
    assert answer.model == "double-model" and not answer.offline and "[1]" in answer.answer


def test_retries_back_off_between_attempts(seeded):
    with OpenAIDouble() as api:
        api.default = Reply(status=500)
        openai_chain(seeded, api.base_url, llm_max_retries=2).invoke(Query(QUESTION))
    gaps = [b - a for a, b in zip(api.times, api.times[1:])]
    assert len(gaps) == 2 and all(g >= 0.2 for g in gaps)  # openai's exponential backoff starts near 0.5 s


@pytest.mark.parametrize("reply", ["The war ended in 1999 [7][8].", "Putin resigned [0]. Trump won [12]."])
def test_a_reply_citing_only_invented_numbers_shows_no_citation(seeded, reply):
    with OpenAIDouble() as api:
        api.script(Reply(reply))
        answer = openai_chain(seeded, api.base_url).invoke(Query(QUESTION))
    assert answer.abstained and answer.citations == [] and not re.search(r"\[\d+\]", answer.answer)


# ---- through the real `newsbot` command, with -v, keys in the environment -------------------------------------

@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("model-cli") / "store"
    newsbot("ingest", str(SEEDS), data=data)
    return data


def ask_cli(store: Path, base_url: str, *extra: str, **env: str) -> subprocess.CompletedProcess:
    keys = {"OPENAI_API_KEY": SECRET, "DISCORD_TOKEN": TOKEN, "OPENAI_BASE_URL": base_url, "NEWSBOT_LLM": "openai",
            "NEWSBOT_LLM_MAX_RETRIES": "1", "NEWSBOT_LLM_TIMEOUT_S": "1", **env}
    proc = newsbot("-v", "ask", QUESTION, *extra, data=store, code=0, **keys)
    for secret in (SECRET, TOKEN, SECRET[-12:], TOKEN[-12:]):
        assert secret not in proc.stdout and secret not in proc.stderr
    return proc


@pytest.mark.parametrize("fault", ["dead endpoint", "401 echoing the key", "500", "timeout", "malformed JSON"])
def test_the_cli_answers_offline_without_a_traceback_or_a_secret(store, fault):
    if fault == "dead endpoint":
        proc = ask_cli(store, f"http://127.0.0.1:{dead_port()}/v1", "--json")
    else:
        with OpenAIDouble() as api:
            api.default = {
                "401 echoing the key": Reply(status=401, raw=json.dumps({"error": {
                    "message": f"Incorrect API key provided: {SECRET}. Token {TOKEN}", "code": "invalid_api_key"}}
                ).encode()),
                "500": Reply(status=500),
                "timeout": Reply(GOOD, delay_s=3),
                "malformed JSON": Reply(raw=b"<html>bad gateway</html>"),
            }[fault]
            proc = ask_cli(store, api.base_url, "--json")
        assert api.headers and all(h["authorization"] == f"Bearer {SECRET}" for h in api.headers)

    answer = json.loads(proc.stdout)
    assert answer["model"] == STUB_MODEL_NAME and answer["answer"].startswith(OFFLINE_LABEL) and answer["citations"]
    assert "WARNING rag.answering.models: the chat model failed (" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_cli_with_a_working_model_logs_no_secret_at_debug_level(store):
    with OpenAIDouble() as api:
        api.default = Reply(GOOD)
        proc = ask_cli(store, api.base_url)
    assert "DEBUG" in proc.stderr  # -v really logged the requests...
    assert "Trump warned Putin not to escalate" in proc.stdout and "[1]" in proc.stdout  # ...and the model answered


def test_settings_and_errors_never_show_the_secrets(monkeypatch):
    from rag.config import Settings
    from rag.errors import describe_error

    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    settings = Settings(_env_file=None)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    assert SECRET not in shown and TOKEN not in shown
    assert settings.openai_api_key.get_secret_value() == SECRET
    from openai import AuthenticationError
    import httpx
    response = httpx.Response(401, request=httpx.Request("POST", "http://x"), json={"error": {"message": SECRET}})
    error = AuthenticationError(f"Incorrect API key provided: {SECRET}", response=response, body=None)
    assert describe_error(error) == "AuthenticationError, HTTP 401"


def test_dot_env_is_git_ignored():
    if (ROOT / ".git").exists() and subprocess.run(["git", "--version"], capture_output=True).returncode == 0:
        check = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
        assert check.returncode == 0
    else:
        assert ".env" in (ROOT / ".gitignore").read_text().splitlines()
