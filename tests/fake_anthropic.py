"""A scripted fake of the Anthropic Messages API on 127.0.0.1 (random port).

Each POST /v1/messages consumes the next scripted step:
``("ok", text)``, ``("429", retry_after_seconds)``, ``("500",)``,
``("slow", seconds, text)`` (answers after a delay, to trigger client timeouts).
When the script is exhausted the server answers 500. Requests (headers and
JSON body) are recorded so tests can check what the SDK sent.
"""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def message_body(text, model="claude-sonnet-4-5", n=1):
    """A Messages API success body carrying ``text``."""
    return {
        "id": f"msg_fake_{n}", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None, "usage": {"input_tokens": 11, "output_tokens": 22},
    }


def _error_body(kind, message):
    return {"type": "error", "error": {"type": kind, "message": message}}


class FakeMessagesServer:
    """Context manager running the fake server in a background thread."""

    def __init__(self, script):
        self.script = list(script)
        self.requests = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self):
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()

    def _next(self, request):
        with self._lock:
            self.requests.append(request)
            return self.script.pop(0) if self.script else ("500",), len(self.requests)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status, body, headers=()):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                step, n = fake._next({"path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()},
                                      "body": body})
                kind = step[0]
                if kind == "ok":
                    self._send(200, message_body(step[1], body.get("model", "fake"), n))
                elif kind == "429":
                    self._send(429, _error_body("rate_limit_error", "slow down"),
                               [("retry-after", str(step[1]))])
                elif kind == "slow":
                    time.sleep(step[1])
                    self._send(200, message_body(step[2], body.get("model", "fake"), n))
                else:
                    self._send(500, _error_body("api_error", "internal error"))

        return Handler
