"""What an exit or an indexer answers is read as hostile: whatever it sends (a list where an object belongs,
JSON nested thousands deep, pages of HTML, a multi-line error), the client ends with its own one-line error,
never an AttributeError or RecursionError. Real HTTP on loopback."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from octravpn.client.discovery import IndexerClient, IndexerUnavailable
from octravpn.client.exit_api import ExitAPI, ExitAPIError
from octravpn.errors import UsageError
from octravpn.mesh.mailbox import Mailbox
from octravpn.mesh.policy_source import publish_policy
from octravpn.protocol.errors import RemoteProtocolError

DEEP = b"[" * 3000 + b"]" * 3000


class Hostile:
    """An HTTP server that answers every request with `status` and `body`."""

    def __init__(self) -> None:
        self.status, self.body = 200, b"{}"
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                self.send_response(hostile.status)
                self.send_header("content-length", str(len(hostile.body)))
                self.end_headers()
                self.wfile.write(hostile.body)

            do_GET = do_PUT = do_POST = _answer  # noqa: N815  (http.server's names)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answers(self, status: int, body: bytes) -> None:
        self.status, self.body = status, body


@pytest.fixture
def hostile():
    server = Hostile()
    yield server
    server.server.shutdown()
    server.server.server_close()


def test_an_exit_api_answering_garbage(hostile):
    api = ExitAPI(hostile.url, timeout=5)
    hostile.answers(500, b"[1, 2]")  # an error that is not an object: once an AttributeError
    with pytest.raises(ExitAPIError, match=r"the exit refused \(500\): \[1, 2\]$"):
        api.info()
    hostile.answers(400, b'{"error": "bad\\nrequest' + b"!" * 5000 + b'"}')
    with pytest.raises(ExitAPIError) as refused:
        api.info()
    assert refused.value.reason.startswith("bad request!!") and len(refused.value.reason) == 300
    hostile.answers(200, DEEP)
    with pytest.raises(RemoteProtocolError, match="not its JSON: JSON nests deeper than 32 levels"):
        api.info()
    hostile.answers(200, b'"a string"')
    with pytest.raises(RemoteProtocolError, match="expected a JSON object, got str"):
        api.info()


def test_an_indexer_answering_garbage(hostile):
    indexer = IndexerClient(hostile.url, timeout=5)
    hostile.answers(404, b'["not", "an", "object"]')  # once an AttributeError
    with pytest.raises(IndexerUnavailable, match="HTTP 404, not JSON .*is that an OctraVPN indexer"):
        indexer.exits()
    hostile.answers(200, DEEP)
    with pytest.raises(IndexerUnavailable, match="nests deeper than 32 levels"):
        indexer.exits()
    hostile.answers(400, b'{"error": "invalid\\nsort"}')
    with pytest.raises(UsageError, match="the indexer refused /v1/exits: invalid sort$"):
        indexer.exits()
    hostile.answers(503, b'{"error": "catching up"}')
    with pytest.raises(IndexerUnavailable, match=r"\(catching up\)"):
        indexer.exits()


def test_a_mailbox_indexer_answering_garbage(hostile):
    mailbox = Mailbox((hostile.url,), timeout=5)
    hostile.answers(200, b'{"items": ' + DEEP + b"}")
    assert mailbox.fetch(0) == (
        [],
        {hostile.url: "served something that is not JSON (JSON nests deeper than 32 levels)"},
    )
    hostile.answers(409, b'["held", "newer"]')
    assert mailbox.put(hostile.url, 0, {"seq": 1}) == 'refused (HTTP 409): ["held", "newer"]'


def test_publishing_a_policy_to_an_indexer_answering_garbage(hostile):
    hostile.answers(400, b"[" * 5000)  # once an AttributeError, after a RecursionError was caught by luck
    (result,) = publish_policy([hostile.url], 0, b"{}").values()
    assert result == "refused (HTTP 400): " + "[" * 300
