"""What a private store and a checked restore cost (issue #25, items 8 and 9): the privacy check every open pays,
the walk that tightens a store open to others, and backup and restore with their sha256 checks against a plain
copy of the same folder (what restore did before).

    .venv/bin/python benchmarks/backup.py [--articles 400] [--runs 5]

The store is built in a temporary folder with `--articles` generated articles, embedded by LangChain's
deterministic fake model at 384 dimensions (the local model's size), so the vectors weigh what real ones do.
Figures are medians of `--runs`; the load average is printed: the machine may be shared.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_store(data: Path, n: int) -> None:
    from langchain_core.embeddings import DeterministicFakeEmbedding

    from rag.articles.article import make_article
    from rag.config import Settings
    from rag.store.index import NewsIndex, open_chroma

    articles = [make_article(title=f"Harbour report {i}", source="Harbour Gazette", published="2024-11-12",
                             body=" ".join(f"Crane {i} moved {i * j} containers from berth {j} on shift {k}."
                                           for j in range(40) for k in range(2)),
                             url=f"https://news.example/report-{i}", origin="bench") for i in range(n)]
    settings = Settings(_env_file=None, data_dir=data)
    NewsIndex(open_chroma(settings), DeterministicFakeEmbedding(size=384), data).ingest(articles)


def median_s(run, runs: int, setup=None) -> float:
    times = []
    for _ in range(runs):
        if setup:
            setup()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def loosen(data: Path) -> None:
    """As a store made before #25 under umask 022."""
    for root, _, files in os.walk(data):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    from rag.store.backup import backup, restore
    from rag.store.private import private_folder

    logging.getLogger("rag.store.private").setLevel(logging.ERROR)  # the tightening warns on every timed run
    work = Path(tempfile.mkdtemp(prefix="newsbot-backup-bench-"))
    try:
        data, snap = work / "store", work / "snap"
        build_store(data, args.articles)
        files = sum(len(f) for _, _, f in os.walk(data))
        size_mb = sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) / 1e6
        print(f"store: {args.articles} articles, {files} files, {size_mb:.1f} MB; load {os.getloadavg()[0]:.2f}")

        check = median_s(lambda: private_folder(data), max(args.runs, 50))
        print(f"privacy check on every open (store already private): {check * 1e6:.0f} µs")
        walk = median_s(lambda: private_folder(data), args.runs, setup=lambda: loosen(data))
        print(f"tightening a store open to others (the walk, once): {walk * 1e3:.1f} ms")

        def fresh_backup() -> None:
            shutil.rmtree(snap, ignore_errors=True)

        took = median_s(lambda: backup(data, snap), args.runs, setup=fresh_backup)
        print(f"backup (SQLite copies, chroma/ copied, every file hashed and made 0600): {took:.3f} s")
        target = work / "restored"
        plain = median_s(lambda: shutil.copytree(snap, target / "copy"), args.runs,
                         setup=lambda: shutil.rmtree(target, ignore_errors=True))
        checked = median_s(lambda: restore(snap, target, "DeterministicFakeEmbedding"), args.runs,
                           setup=lambda: shutil.rmtree(target, ignore_errors=True))
        print(f"restore, every entry checked and every file's sha256 verified as it is copied: {checked:.3f} s "
              f"(a plain copy of the same folder, as restore did before: {plain:.3f} s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
