"""A real HTTP receiver on 127.0.0.1 for tests of what the platform sends (pages, team
webhooks, chat follow-ups). The fixtures `http_target` and `allow_local` (tests/conftest.py)
hand it to tests; tests/integrations keeps its own receiver, which answers with headers."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 (HTTPS with a server `context`), and a queue of
    answers for the next requests (`respond`), which the subclass's handler reads."""

    scheme = "http"

    def serve(self, handler: type[BaseHTTPRequestHandler], context=None) -> None:
        self.answers: list = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def serve_json(self, answer, context=None) -> None:
        """Serve POSTs answered by `answer(path, headers, body) -> (status, headers, JSON)`,
        the way the JSON APIs faked here answer (tests/pagerduty_fake.py, tests/slack_fake.py)."""

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, headers, document = answer(self.path, self.headers, body)
                data = json.dumps(document).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.serve(Handler, context)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def respond(self, *answers) -> None:
        with self.lock:
            self.answers.extend(answers)

    def next_answer(self, default=None):
        with self.lock:
            return self.answers.pop(0) if self.answers else default

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class HttpTarget(LoopbackServer):
    """A real HTTP server on 127.0.0.1. `respond(*answers)` queues how the next requests are
    answered: an int status, ("429", seconds) for Retry-After, ("slow", seconds) to sleep
    before answering 200. When the queue runs out it answers 200."""

    def __init__(self):
        self.received: list[Received] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with target.lock:
                    target.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                answer = target.next_answer(200)
                headers = {}
                if isinstance(answer, tuple) and answer[0] == "slow":
                    time.sleep(answer[1])
                    answer = 200
                elif isinstance(answer, tuple) and answer[0] == "429":
                    headers["Retry-After"] = str(answer[1])
                    answer = 429
                try:
                    self.send_response(answer)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, *args):
                pass

        self.serve(Handler)
