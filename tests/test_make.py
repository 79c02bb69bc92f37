"""`make run` and `make test`, the README's two commands: what they show, and that they install only when needed.

`make run` is run through the real Makefile and the real `newsbot` script, but with VENV pointing at a folder whose
`python` and `newsbot` hand over to this test's interpreter and script: running `make run` on the repository's own
.venv would reinstall into the developer's venv whenever it was not made by make (the manual path), and the install
logic has a test of its own below, on a copy of the Makefile with a recording python.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rag.articles.loaders import load_paths

from tests.conftest import SAMPLES

ROOT = Path(__file__).parent.parent
pytestmark = [pytest.mark.skipif(shutil.which("make") is None, reason="GNU make is not installed"),
              pytest.mark.slow]  # make and newsbot processes


def _script(path: Path, body: str) -> None:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _make(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """make with the test's environment, minus what an outer `make test` passes down to nested makes."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    return subprocess.run(["make", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _installed_venv(tmp_path: Path, newsbot: str | None = None) -> Path:
    """A venv folder that runs this interpreter (and `newsbot`, or the given script), already marked installed."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    _script(venv / "bin" / "python", f'exec {shlex.quote(sys.executable)} "$@"')
    real = Path(sys.executable).parent / "newsbot"
    _script(venv / "bin" / "newsbot", newsbot or f'exec {shlex.quote(str(real))} "$@"')
    # make -t marks the install stamp done without running its recipe, whatever the stamp is named
    assert _make("-f", str(ROOT / "Makefile"), "-t", "install", f"VENV={venv}", cwd=tmp_path).returncode == 0
    return venv


def _run(tmp_path: Path, venv: Path) -> subprocess.CompletedProcess[str]:
    result = _make("-f", str(ROOT / "Makefile"), "run", f"VENV={venv}", cwd=tmp_path)
    assert "pip install" not in result.stdout + result.stderr  # marked installed: nothing is reinstalled
    return result


def _chroma_writes(store: Path) -> tuple:
    """Chroma numbers every write (its log's sequence ids): an unchanged set means no chunk was embedded or written."""
    with sqlite3.connect(f"file:{store / 'chroma' / 'chroma.sqlite3'}?mode=ro", uri=True) as db:
        rows = sorted(db.execute("SELECT embedding_id, seq_id FROM embeddings"))
        return rows, db.execute("SELECT max(seq_id) FROM embeddings_queue").fetchone()[0]


def _answer_and_citations(stdout: str) -> tuple[str, dict[int, tuple[str, str]]]:
    """The printed answer, and {n: (title, quote)} from the numbered sources under it."""
    answer, _, sources = stdout.partition("\n\n")
    cited = re.findall(r"^\[(\d+)\] (.+?) \(\d{4}-\d{2}-\d{2}\)\n    “(.+)”$", sources, re.M)
    return answer, {int(n): (title, quote) for n, title, quote in cited}


@pytest.mark.slow
def test_make_run_answers_the_sample_question_with_checked_citations_and_a_second_run_embeds_nothing(tmp_path):
    venv = _installed_venv(tmp_path)
    store = Path(os.environ["NEWSBOT_DATA_DIR"])
    assert not store.exists()

    first = _run(tmp_path, venv)
    assert first.returncode == 0, first.stderr
    assert "added 2, updated 0, unchanged 0, failed 0; library default: 2 articles" in first.stderr
    answer, cited = _answer_and_citations(first.stdout)
    assert "warned Putin not to escalate the war in Ukraine" in answer
    assert cited and {int(n) for n in re.findall(r"\[(\d+)\]", answer)} == set(cited)
    samples = {a.title: a.body for a in load_paths([SAMPLES])}
    assert {title for title, _ in cited.values()} == set(samples)  # both sample articles are cited
    for title, quote in cited.values():
        assert quote in samples[title]  # verbatim
    writes = _chroma_writes(store)
    assert len(writes[0]) == 5

    second = _run(tmp_path, venv)
    assert second.returncode == 0, second.stderr
    assert "added 0, updated 0, unchanged 2, failed 0; library default: 2 articles, 5 chunks" in second.stderr
    assert _chroma_writes(store) == writes
    assert _answer_and_citations(second.stdout) == (answer, cited)


@pytest.mark.parametrize("where", ["environment", ".env"])
def test_make_run_starts_the_bot_instead_when_discord_token_is_set(tmp_path, monkeypatch, where):
    venv = _installed_venv(tmp_path, newsbot=f'echo "newsbot $*" >> {shlex.quote(str(tmp_path / "calls"))}')
    if where == "environment":
        monkeypatch.setenv("DISCORD_TOKEN", "abc.def.ghi")
    else:
        (tmp_path / ".env").write_text("DISCORD_TOKEN=abc.def.ghi\n")

    result = _run(tmp_path, venv)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "calls").read_text() == "newsbot bot\n"
    assert "starting the Discord bot" in result.stdout
    assert "abc.def.ghi" not in result.stdout + result.stderr


def test_make_run_shows_the_demo_when_discord_token_is_blank(tmp_path):
    venv = _installed_venv(tmp_path, newsbot=f'echo "newsbot $*" >> {shlex.quote(str(tmp_path / "calls"))}')
    (tmp_path / ".env").write_text('DISCORD_TOKEN="   "\n')

    result = _run(tmp_path, venv)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "calls").read_text() == "newsbot demo\n"


RECORDER = """\
case "$1" in -c) exec {python} "$@";; esac  # the Makefile hashes pyproject.toml with python -c
echo "$(basename "$0") $*" >> {log}
case "$1 $2" in
  "-m venv") mkdir -p "$4/bin" && cp "$0" "$4/bin/python" &&  # -m venv --clear DIR; lint-imports, which make test
             printf '#!/bin/sh\nexit 0\n' > "$4/bin/lint-imports" && chmod +x "$4/bin/lint-imports";;  # runs first, passes
  "-m pip") [ "$3" = install ] && [ -e {fail} ] && exit 1;;
esac
exit 0"""


def test_make_test_sets_up_once_and_reinstalls_only_when_pyproject_changes(tmp_path):
    project = tmp_path / "clone"
    project.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    log, fail = tmp_path / "log", tmp_path / "pip-fails"
    _script(tmp_path / "python3", RECORDER.format(python=shlex.quote(sys.executable), log=log, fail=fail))
    venv = project / ".venv"
    seen: list[str] = []

    def step(expect_rc: int = 0) -> list[str]:
        result = _make("test", f"PYTHON={tmp_path / 'python3'}", cwd=project)
        assert result.returncode == expect_rc, result.stdout + result.stderr
        lines = log.read_text().splitlines() if log.exists() else []
        new = lines[len(seen):]
        seen.extend(new)
        return new

    install = 'python -m pip install -e .[dev]'
    assert step() == [f"python3 -m venv --clear {venv}", install, "python -m pytest"]  # a fresh clone
    assert step() == ["python -m pytest"]  # nothing changed: no venv, no install
    assert len(list(venv.glob(".newsbot-installed-*"))) == 1

    with (project / "pyproject.toml").open("a") as f:
        f.write("\n# a new line\n")
    assert step() == ["python -m pip --version", install, "python -m pytest"]  # the same venv, installed again
    assert step() == ["python -m pytest"]
    assert len(list(venv.glob(".newsbot-installed-*"))) == 1  # the old stamp is gone

    (venv / "bin" / "python").unlink()  # a venv that cannot run pip is made again
    for stamp in venv.glob(".newsbot-installed-*"):
        stamp.unlink()
    fail.touch()  # and an install that fails is not marked done: the next make tries again
    assert step(expect_rc=2) == [f"python3 -m venv --clear {venv}", install]
    fail.unlink()
    assert step() == ["python -m pip --version", install, "python -m pytest"]
