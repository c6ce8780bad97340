"""The OpenAI-compatible client never sends the API key to a host other than base_url's.

Two real local servers: 127.0.0.1 answers every POST with a redirect to 127.0.0.2, which
records what it receives. No redirect is followed, nothing is cached, the error names the target.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sua.models.openai_client import OpenAIClient, OpenAIRequestError, OpenAIServer


def _serve(host: str, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture()
def two_hosts():
    seen: list[dict] = []

    class Other(BaseHTTPRequestHandler):
        def _record(self) -> None:
            seen.append({"method": self.command, "headers": dict(self.headers)})
            body = json.dumps({"choices": [{"text": "from the other host"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _record

        def log_message(self, *args) -> None:
            pass

    try:
        other = _serve("127.0.0.2", Other)
    except OSError:
        pytest.skip("127.0.0.2 is not routable on this machine")
    target = f"http://127.0.0.2:{other.server_address[1]}/v1/completions"

    def make_configured(code: int) -> ThreadingHTTPServer:
        class Configured(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(code)
                self.send_header("Location", target)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return _serve("127.0.0.1", Configured)

    servers = [other]
    yield make_configured, servers, seen, target
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_is_refused_and_the_key_never_leaves_the_host(two_hosts, tmp_path, code):
    make_configured, servers, seen, target = two_hosts
    configured = make_configured(code)
    servers.append(configured)
    base = f"http://127.0.0.1:{configured.server_address[1]}/v1"
    server = OpenAIServer(base, api_key="sk-secret", cache_dir=tmp_path / "cache", max_retries=0)
    client = OpenAIClient(server, "m")
    with pytest.raises(OpenAIRequestError, match=f"HTTP {code} redirect to .*127.0.0.2.* refused") as err:
        client.post("/completions", {"prompt": "hi"})
    assert err.value.status == code
    assert seen == []  # the other host got no request at all, so no Authorization header either
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.json"))
    # a second call is not answered from a cache either: it is refused again
    with pytest.raises(OpenAIRequestError):
        client.post("/completions", {"prompt": "hi"})
    assert client.stats["cache_hits"] == 0 and seen == []
    assert target.startswith("http://127.0.0.2")


def test_the_other_host_is_reachable_directly(two_hosts):
    """Guards the test above: the refusal is the client's doing, not an unreachable host."""
    _, _, seen, target = two_hosts
    client = OpenAIClient(OpenAIServer(target.rsplit("/", 1)[0], api_key="sk-secret", max_retries=0), "m")
    assert client.post("/completions", {"prompt": "hi"})["choices"][0]["text"] == "from the other host"
    assert seen[0]["headers"]["Authorization"] == "Bearer sk-secret"
