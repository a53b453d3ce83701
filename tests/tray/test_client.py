import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from impetus.tray.client import METRIC_NAMES, ServerClient, metrics_from_text, parse_prometheus

SAMPLE = """# HELP impetus_tokens_per_second Decode speed
# TYPE impetus_tokens_per_second gauge
impetus_tokens_per_second{model="a"} 20.5
impetus_tokens_per_second{model="b"} 1.5
impetus_active_requests{model="a"} 2
impetus_queue_depth{model="a"} 0
garbage line here
impetus_broken{x="1"} notanumber
"""


def test_parse_sums_label_sets_and_skips_junk():
    values = parse_prometheus(SAMPLE)
    assert values["impetus_tokens_per_second"] == 22.0
    assert "impetus_broken" not in values


def test_metrics_tolerate_missing_names():
    m = metrics_from_text(SAMPLE)
    assert (m.tokens_per_second, m.active_requests, m.queue_depth) == (22.0, 2, 0)
    empty = metrics_from_text("other_metric 1\n")
    assert (empty.tokens_per_second, empty.active_requests, empty.queue_depth) == (None,) * 3
    assert set(METRIC_NAMES) == {"tokens_per_second", "active_requests", "queue_depth"}


def test_unreachable_and_foreign_servers(port):
    client = ServerClient("127.0.0.1", port, timeout=0.5)
    assert client.health().reachable is False
    assert client.metrics() is None

    class NotImpetus(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>hello</html>")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), NotImpetus)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        health = client.health()
        assert health.reachable and not health.is_impetus
    finally:
        server.shutdown()
        server.server_close()


def serve(port, answers: dict[tuple[str, str], tuple[int, bytes]], seen: list):
    """A stand-in server: (method, path) -> (status, body); records what it was asked."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("content-length") or 0)
            seen.append((self.command, self.path, self.rfile.read(length)))
            status, body = answers.get((self.command, self.path), (404, b"{}"))
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_registry_calls_and_their_errors(port):
    seen: list = []
    error = b'{"error": {"message": "the model \'x\' does not exist", "type": "not_found_error"}}'
    server = serve(
        port,
        {
            ("GET", "/admin/models"): (401, b'{"error": {"type": "authentication_error"}}'),
            ("POST", "/admin/models/org%2Frepo%3AQ4_K_M/load"): (404, error),
            ("POST", "/admin/models/m/unload"): (200, b'{"name": "m", "unloaded": true}'),
        },
        seen,
    )
    try:
        client = ServerClient("127.0.0.1", port, timeout=2)
        catalog = client.models()
        assert catalog.source == "server" and not catalog.models
        assert "API key" in catalog.error
        reply = client.load_model("org/repo:Q4_K_M", keep_alive="-1")
        assert not reply.ok and reply.error == "the model 'x' does not exist"
        assert seen[-1][2] == b'{"keep_alive": "-1"}'  # JSON body, name quoted into the path
        assert client.unload_model("m").ok
    finally:
        server.shutdown()
        server.server_close()
    assert ServerClient("127.0.0.1", port, timeout=0.5).load_model("m").error == (
        "the server did not answer"
    )
