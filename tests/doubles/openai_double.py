"""A local OpenAI-compatible chat server (stdlib http.server on 127.0.0.1) that records requests and replays scripted replies or faults."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One scripted response: a chat completion with `content`, or a fault."""

    content: str | None | Callable[[dict], str] = "ok"  # a callable gets the request body
    status: int = 200
    headers: dict = field(default_factory=dict)
    raw: bytes | None = None  # sent as is (e.g. malformed JSON)
    delay_s: float = 0.0
    drop: bool = False  # close the connection without answering (a server that dies mid-request)


class OpenAIDouble:
    """`with OpenAIDouble() as api:` → `api.base_url`, `api.script(Reply(...))`, `api.requests`."""

    def __init__(self, model: str = "double-model") -> None:
        self.model = model
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.times: list[float] = []  # when each request arrived (time.monotonic), to check backoff
        self._script: deque[Reply] = deque()
        self.default = Reply()
        double = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                double.times.append(time.monotonic())
                double.requests.append({"path": self.path, "json": body})
                double.headers.append({k.lower(): v for k, v in self.headers.items()})
                reply = double._script.popleft() if double._script else double.default
                if callable(reply.content):
                    reply = Reply(reply.content(body), reply.status, reply.headers, reply.raw, reply.delay_s,
                                  reply.drop)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = reply.raw if reply.raw is not None else json.dumps(double._payload(reply)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _payload(self, reply: Reply) -> dict:
        if reply.status != 200:
            return {"error": {"message": f"scripted {reply.status}", "type": "server_error", "code": None}}
        return {
            "id": "chatcmpl-double", "object": "chat.completion", "created": int(time.time()), "model": self.model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": reply.content}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies; once they run out, `default` answers."""
        self._script.extend(replies)

    def __enter__(self) -> OpenAIDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
