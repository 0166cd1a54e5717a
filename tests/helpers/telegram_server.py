"""A local stand-in for the Telegram Bot API: a real HTTP server on 127.0.0.1 that records requests.

    with TelegramServer() as server:
        server.respond(500, 500)               # then the default: a Bot API success
        ... settings with TG_API_URL=server.url ...
        assert server.requests[-1].json["text"] == "..."

It also answers any other POST (apprise's `json://127.0.0.1:PORT/` plugin) the same way, so one server
checks both channels. Use the `telegram_server` fixture from a test module with
`from tests.helpers.telegram_server import telegram_server  # noqa: F401`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

_BOT_PATH = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[^/?]+)")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: HTTP status, JSON body (None: a Bot API body for the status), headers, delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering, to force a client timeout

    @classmethod
    def too_many(cls, retry_after: float, *, header: bool = False) -> Reply:
        """A 429 with the Bot API's `parameters.retry_after` (or only the Retry-After header)."""
        if header:
            return cls(429, {"ok": False, "error_code": 429}, {"Retry-After": str(retry_after)})
        body = {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests",
            "parameters": {"retry_after": retry_after},
        }
        return cls(429, body)

    @classmethod
    def slow(cls, delay: float) -> Reply:
        return cls(200, None, {}, delay)


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    token: str | None  # from /bot<token>/<method>
    api_method: str | None  # e.g. sendMessage
    json: Any  # the JSON body, or None when it was not JSON
    body: bytes
    headers: dict[str, str]
    received_at: float = 0.0  # time.monotonic() when the request arrived


class TelegramServer:
    """Records every request; answers from a script, then with Bot API successes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Recorded] = []
        self._script: deque[Reply] = deque()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting and inspection
    def respond(self, *replies: Reply | int) -> TelegramServer:
        """Queue answers for the next requests; an int is that status with a Bot API error body."""
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)
        return self

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_address[1])

    # -- lifecycle
    def start(self) -> TelegramServer:
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="telegram-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes up delayed answers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> TelegramServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling
    def _next_reply(self, recorded: Recorded) -> tuple[Reply, Any]:
        with self._lock:
            self._requests.append(recorded)
            count = len(self._requests)
            reply = self._script.popleft() if self._script else Reply()
        body = reply.body
        if body is None and reply.status < 400:
            payload = recorded.json if isinstance(recorded.json, dict) else {}
            body = {
                "ok": True,
                "result": {"message_id": count, "chat": {"id": payload.get("chat_id")}, "text": payload.get("text")},
            }
        elif body is None:
            body = {"ok": False, "error_code": reply.status, "description": f"scripted error {reply.status}"}
        return reply, body

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    parsed = json.loads(raw) if raw else None
                except ValueError:
                    parsed = None
                match = _BOT_PATH.match(self.path)
                recorded = Recorded(
                    method="POST",
                    path=self.path,
                    token=match["token"] if match else None,
                    api_method=match["method"] if match else None,
                    json=parsed,
                    body=raw,
                    headers=dict(self.headers.items()),
                    received_at=time.monotonic(),
                )
                reply, body = server._next_reply(recorded)
                if reply.delay and server._stopping.wait(reply.delay):
                    self.close_connection = True
                    return
                data = json.dumps(body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # keep test output clean

        return Handler


@pytest.fixture
def telegram_server() -> Iterator[TelegramServer]:
    """A running local Bot API stand-in, stopped after the test."""
    with TelegramServer() as server:
        yield server
