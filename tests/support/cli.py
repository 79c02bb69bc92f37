"""Running newsbot as a separate process, and reading what it left in a store from outside."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

NEWSBOT = Path(sys.executable).parent / "newsbot"


def run(*args: str, env_dir: Path, check_code: int | None = 0, stdin: str | None = None,
        **env_extra: str) -> subprocess.CompletedProcess:
    """`newsbot ARGS` as a user runs it: no NEWSBOT_/OPENAI_/DISCORD_ settings of ours, stdout block-buffered as it
    is in a pipe (PYTHONUNBUFFERED, set in some environments, would hide output lost at exit)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "NEWSBOT_", "DISCORD_")) and k != "PYTHONUNBUFFERED"}
    env["NEWSBOT_DATA_DIR"] = str(env_dir)
    env.update(env_extra)
    proc = subprocess.run([str(NEWSBOT), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)
    if check_code is not None:
        assert proc.returncode == check_code, proc.stderr
    return proc


HEAVY = {"onnxruntime", "chromadb", "langchain", "langchain_core", "langchain_chroma", "discord", "trafilatura"}
IMPORTS = """
import json, sys
from rag.cli.app import app
try:
    app(sys.argv[1:])
except SystemExit as done:
    assert not done.code, done.code
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def imported_by(*args: str, env_dir: Path) -> tuple[str, set[str]]:
    """Run `newsbot ARGS` in a fresh interpreter: what it printed, and the top-level packages it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NEWSBOT_", "DISCORD_"))}
    env["NEWSBOT_DATA_DIR"] = str(env_dir)
    proc = subprocess.run([sys.executable, "-c", IMPORTS, *args], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    printed, _, modules = proc.stdout.rstrip("\n").rpartition("\n")
    return printed, set(json.loads(modules))


def env_for(data: Path, **extra: str) -> dict:
    """A child's environment: no keys or settings of ours, this checkout on PYTHONPATH, the store in `data`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "NEWSBOT_", "DISCORD_"))}
    return env | {"PYTHONPATH": str(ROOT), "NEWSBOT_DATA_DIR": str(data), **extra}


def newsbot(*args: str, data: Path, code: int | None = 0, **env: str) -> subprocess.CompletedProcess:
    """Run the real console script on `data`, with this checkout's packages and no keys."""
    proc = subprocess.run([str(NEWSBOT), *args], capture_output=True, text=True, env=env_for(data, **env), timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    if code is not None:
        assert proc.returncode == code, proc.stderr
    return proc


def store_counts(data: Path) -> dict:
    """Articles and chunks by `newsbot stats --json`, plus what the registry and Chroma hold."""
    stats = json.loads(newsbot("stats", "--json", data=data).stdout)
    with sqlite3.connect(data / "newsbot.sqlite3") as db:
        registry = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    return {"articles": stats["articles"], "chunks": stats["chunks"], "registry": registry,
            "chroma": chroma_count(data)}


def chroma_count(data: Path) -> int:
    import chromadb
    from chromadb.config import Settings

    client = chromadb.PersistentClient(path=str(data / "chroma"), settings=Settings(anonymized_telemetry=False))
    return sum(client.get_collection(c.name).count() for c in client.list_collections())


def assert_consistent(data: Path, articles: int) -> dict:
    counts = store_counts(data)
    assert counts["articles"] == articles
    assert counts["chunks"] == counts["registry"] == counts["chroma"], counts
    return counts


def good(i: int) -> str:
    return f"date 2024-03-{1 + i % 28:02d} Harbour report {i}\n\nHarbour report {i}\n\nShip {i} docked at pier {i}.\n"


def cli_main(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-c", "from rag.cli.app import main; main()", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)
