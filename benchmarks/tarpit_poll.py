"""A poll pass against tarpits (issue #25): `python benchmarks/tarpit_poll.py [--deadline 5] [--good 20] [--json]`.

A local site on 127.0.0.1 serves `--good` full-text feeds of 5 entries and three tarpits: one answers `100 Continue`
every 0.5 s forever, one drips a header byte every 0.5 s, one sends its headers then a body byte every 0.5 s. One
pass polls them all with NEWSBOT_FEED_DEADLINE_S=`--deadline` (and the fetch's own timeouts far above it, so the
per-feed deadline alone has to end the pass). Printed: the pass's wall time against the deadline, the articles that
landed and each tarpit's recorded reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.doubles.feeds_site import NewsSite, Page, atom, paragraphs  # noqa: E402


def drip(site: NewsSite, what: str):
    def handler(request) -> None:
        if what == "continue":
            chunk = b"HTTP/1.1 100 Continue\r\n\r\n"
        elif what == "headers":
            chunk = b"X"
            request.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
        else:
            chunk = b" "
            request.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n")
        while not site.release.wait(0.5):
            request.wfile.write(chunk)
            request.wfile.flush()
    return handler


def main(deadline: float, good: int) -> dict:
    from rag.config import Settings
    from rag.services import build_services

    with NewsSite() as site, tempfile.TemporaryDirectory() as folder:
        services = build_services(Settings(_env_file=None, data_dir=Path(folder), allow_private_urls=True,
                                           fetch_read_timeout_s=600, fetch_total_timeout_s=600,
                                           feed_deadline_s=deadline))
        store = services.feeds.store
        for kind in ("continue", "headers", "body"):
            site.routes[f"/{kind}.xml"] = drip(site, kind)
            store.add("bench", site.url(f"/{kind}.xml"), None, None, 1800, "auto")
        for i in range(good):
            site.routes[f"/good{i}.xml"] = Page(atom(f"Good{i}", [
                {"id": f"urn:{i}:{j}", "title": f"Good {i} story {j}", "link": f"https://example.org/{i}/{j}",
                 "content": " ".join(paragraphs(f"Town{i}x{j}", 3))} for j in range(5)]), "application/atom+xml")
            store.add("bench", site.url(f"/good{i}.xml"), None, None, 1800, "auto")
        started = time.monotonic()
        result = services.poll_feeds(library="bench")
        wall = time.monotonic() - started
        return {"deadline_s": deadline, "pass_wall_s": round(wall, 2), "over_deadline_s": round(wall - deadline, 2),
                "good_feeds": good, "articles_landed": result.new, "failed": result.failed}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deadline", type=float, default=5.0)
    parser.add_argument("--good", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = main(args.deadline, args.good)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key}: {value}")
