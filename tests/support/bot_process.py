"""A bot in a process of its own against the in-process Discord double (`benchmarks/bot_child.py`, which opens the
store named by its NEWSBOT_* environment exactly as `newsbot bot` does): "another machine" for the shard tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import ROOT


def bot_env(data_dir: Path, **settings: str) -> dict:
    """A child's environment: none of our NEWSBOT_/OPENAI_/DISCORD_ settings, the offline model, this checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBOT_", "OPENAI_", "DISCORD_"))}
    return env | {"NEWSBOT_DATA_DIR": str(data_dir), "NEWSBOT_LLM": "stub", "PYTHONPATH": str(ROOT), **settings}


@contextlib.asynccontextmanager
async def bot_process(double, env: dict, cwd: Path, timeout: float = 120.0) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start the bot process, wait until it is ready on the double, and stop it on exit (stdin `stop`)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "benchmarks" / "bot_child.py"), double.api_base, double.gateway_url + "/",
        double.token, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, cwd=cwd)
    try:
        line = await asyncio.wait_for(child.stdout.readline(), timeout)
        assert json.loads(line or b"{}").get("ready"), f"the bot process did not start (exit {child.returncode})"
        yield child
    finally:
        if child.returncode is None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                child.stdin.write(b"stop\n")
                await child.stdin.drain()
            try:
                await asyncio.wait_for(child.wait(), 30)
            except TimeoutError:
                child.kill()
                await child.wait()
