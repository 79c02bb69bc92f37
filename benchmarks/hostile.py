"""What a hostile server costs the fetcher (issue #25): `python benchmarks/hostile.py [--mb 1024] [--deadline 5]`.

A hostile site on 127.0.0.1 (tests/doubles/hostile_site.py) serves compression bombs of `--mb` decoded megabytes and three
tarpits. Each bomb is fetched in a fresh child process with the default 5 MB cap (NEWSBOT_FETCH_MAX_BYTES); the
child prints its peak RSS (VmHWM) above its RSS after imports and a warm-up fetch, and how the fetch ended. A gzip
within the cap is the comparison. Each tarpit is fetched with a `--deadline` total (NEWSBOT_FETCH_TOTAL_TIMEOUT_S),
and its wall time is printed against it.
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.feeds.fetch import Fetcher  # noqa: E402
from rag.feeds.network import FetchError  # noqa: E402
from tests.doubles.hostile_site import (HostileSite, answer, deflate_bomb, encoded, gzip_bomb, stacked_gzip_bomb,  # noqa: E402
                                zstd_bomb)

CHILD = """
import json, sys
from rag.feeds.fetch import Fetcher
from rag.feeds.network import FetchError

def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])

fetcher = Fetcher(allow_private=True)
fetcher.get(sys.argv[2])  # warm: the client, its pool and the decoder's code paths
base = rss_kb("VmRSS")
try:
    ended = f"{len(fetcher.get(sys.argv[1]).content):,} bytes read"
except FetchError as exc:
    ended = f"FetchError: {exc}"
print(json.dumps({"peak_above_base_mb": (rss_kb("VmHWM") - base) / 1024, "ended": ended}))
"""


def bombs(mb: int) -> dict[str, tuple[bytes, str]]:
    return {"gzip": (gzip_bomb(mb), "gzip"), "deflate (zlib)": (deflate_bomb(mb), "deflate"),
            "deflate (raw)": (deflate_bomb(mb, raw=True), "deflate"), "gzip, gzip": (stacked_gzip_bomb(mb),
                                                                                    "gzip, gzip"),
            "zstd": (zstd_bomb(mb), "zstd"), "gzip within the cap (4 MB)": (gzip.compress(bytes(4 << 20)), "gzip")}


def measure_bombs(site: HostileSite, mb: int) -> list[dict]:
    rows = []
    site.routes["/small"] = answer(b"ok", content_type="text/plain")
    for i, (name, (body, encoding)) in enumerate(bombs(mb).items()):
        site.routes[f"/bomb{i}"] = encoded(body, encoding)
        done = subprocess.run([sys.executable, "-c", CHILD, site.url(f"/bomb{i}"), site.url("/small")],
                              capture_output=True, text=True, timeout=300,
                              cwd=Path(__file__).resolve().parent.parent)
        figures = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {
            "peak_above_base_mb": float("nan"), "ended": done.stderr.strip().splitlines()[-1]}
        rows.append({"case": name, "wire_bytes": len(body), **figures})
    return rows


def measure_tarpits(site: HostileSite, deadline: float) -> list[dict]:
    rows = []
    fetcher = Fetcher(allow_private=True, total_timeout_s=deadline)
    for name in ("continue_flood", "dripped_headers", "slow_body"):
        site.routes[f"/{name}"] = getattr(site, name)()
        started = time.monotonic()
        try:
            fetcher.get(site.url(f"/{name}"))
            ended = "read (!)"
        except FetchError as exc:
            ended = str(exc)
        rows.append({"case": name, "deadline_s": deadline, "wall_s": time.monotonic() - started, "ended": ended})
    fetcher.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="decoded size of each bomb, MB")
    parser.add_argument("--deadline", type=float, default=5.0, help="the total deadline for the tarpits, s")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with HostileSite() as site:
        bomb_rows, pit_rows = measure_bombs(site, args.mb), measure_tarpits(site, args.deadline)
    if args.json:
        print(json.dumps({"bombs": bomb_rows, "tarpits": pit_rows}))
        return
    print(f"bombs of {args.mb:,} MB decoded, 5 MB cap; peak RSS above the child's baseline")
    print(f"{'case':<28}{'on the wire':>14}{'peak MB':>10}  ended")
    for r in bomb_rows:
        print(f"{r['case']:<28}{r['wire_bytes']:>14,}{r['peak_above_base_mb']:>10.1f}  {r['ended']}")
    print(f"\ntarpits, total deadline {args.deadline:g} s")
    print(f"{'case':<28}{'wall s':>8}  ended")
    for r in pit_rows:
        print(f"{r['case']:<28}{r['wall_s']:>8.2f}  {r['ended']}")


if __name__ == "__main__":
    main()
