"""What an exit or an indexer answers is read as hostile: whatever it sends (a list where an object belongs,
JSON nested thousands deep, pages of HTML, a multi-line error), the client ends with its own one-line error,
never an AttributeError or RecursionError. Real HTTP on loopback."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from octravpn.client import discovery
from octravpn.client.discovery import IndexerClient, IndexerUnavailable
from octravpn.client.exit_api import ExitAPI, ExitAPIError
from octravpn.errors import UsageError
from octravpn.indexer.rpc import JsonRpc, RpcError
from octravpn.mesh import mailbox as mailbox_module
from octravpn.mesh.mailbox import Mailbox
from octravpn.protocol.errors import RemoteProtocolError

DEEP = b"[" * 3000 + b"]" * 3000
EXIT = {
    "address": "0x" + "ab" * 20,
    "endpoint": "192.0.2.1:51820",
    "region": "local",
    "price_per_mb": "1000",
    "wg_pubkey": "x" * 44,
    "receipt_signer": "0x" + "cd" * 20,
    "registered_at": 1,
    "reputation": 0,
    "stake": "1",
    "active": True,
    "listed": True,
    "slashed": False,
    "sessions_settled": 0,
    "bytes_served": 0,
}


class Hostile:
    """An HTTP server that answers every request with `status` and `body` (or `body(path)`)."""

    def __init__(self) -> None:
        self.status, self.body, self.declare_length = 200, b"{}", True
        hostile = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                body = hostile.body(self.path) if callable(hostile.body) else hostile.body
                self.send_response(hostile.status)
                if hostile.declare_length:  # otherwise the body ends when the connection does (HTTP/1.0)
                    self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PUT = do_POST = _answer  # noqa: N815  (http.server's names)

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answers(self, status: int, body, *, declare_length: bool = True) -> None:
        self.status, self.body, self.declare_length = status, body, declare_length


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
    for declare_length in (True, False):  # an answer larger than any of an exit's is not read to its end
        hostile.answers(200, b'{"x": "' + b"x" * 200_000 + b'"}', declare_length=declare_length)
        with pytest.raises(RemoteProtocolError, match="the exit answered /v1/info: sent more than 65536 bytes"):
            api.info()
    hostile.answers(204, b"")  # "no content" where an answer belongs: once a None handed to the caller
    with pytest.raises(RemoteProtocolError, match="answered /v1/info with nothing where its answer belongs"):
        api.info()
    with pytest.raises(RemoteProtocolError, match="answered /v1/peers with nothing"):
        api.add_peer({})
    assert api.receipt_request(1, "header") is None  # the one call where nothing is an answer: no receipt asked


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>", "not JSON"),
        (b"[1, 2]", "a JSON list, not a JSON-RPC object"),
        (b'{"error": "boom"}', "boom"),  # an error that is not an object: once an AttributeError
        (b'{"error": {"code": [1], "message": "no"}}', "no"),
        (b'{"error": {"code": -32000, "message": "' + b"x" * 5000 + b'"}}', "x" * 300 + "$"),
    ],
)
def test_a_json_rpc_node_answering_garbage_is_a_chain_error(hostile, body, reason):
    hostile.answers(200, body)
    rpc = JsonRpc(hostile.url, timeout=5)
    try:
        with pytest.raises(RpcError, match=reason):
            rpc.chain_id()
        with pytest.raises(RpcError):  # a batch answered with anything but a list of answers
            rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
    finally:
        rpc.close()


def test_a_json_rpc_batch_with_missing_or_odd_answers_names_what_is_missing(hostile):
    hostile.answers(200, b'[7, {"id": [1]}, {"id": 2, "result": "0x5"}]')
    rpc = JsonRpc(hostile.url, timeout=5)
    try:
        with pytest.raises(RpcError, match="the node refused eth_chainId: no answer"):
            rpc.batch([("eth_chainId", []), ("eth_blockNumber", [])])
    finally:
        rpc.close()


def test_an_indexer_answering_garbage(hostile):
    indexer = IndexerClient(hostile.url, timeout=5)
    hostile.answers(404, b'["not", "an", "object"]')  # once an AttributeError
    with pytest.raises(IndexerUnavailable, match=r"HTTP 404, not JSON \(expected a JSON object, got list\)"):
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
    hostile.answers(200, json.dumps({"items": [{"address": "0x1"}], "total": 1, "limit": 1, "offset": 0}).encode())
    with pytest.raises(IndexerUnavailable, match=r"does not fit the API \(items\.0\.endpoint: Field required\)"):
        indexer.exits()  # once a KeyError where `--exit auto` ranks them
    hostile.answers(
        200,
        b'{"items": [], "total": 0, "limit": 0, "offset": 0, "pad": "' + b"x" * 9_000_000 + b'"}',
        declare_length=False,
    )
    with pytest.raises(IndexerUnavailable, match="sent more than 8388608 bytes"):
        indexer.exits()


def test_an_indexer_cannot_keep_a_client_paging_forever(hostile, monkeypatch):
    monkeypatch.setattr(discovery, "MAX_LISTED", 5)
    page = {"items": [EXIT], "total": 10**9, "limit": 1, "offset": 0}  # the same page, always "more to come"
    hostile.answers(200, json.dumps(page).encode())
    with pytest.raises(IndexerUnavailable, match="it lists more than 5 exits"):
        IndexerClient(hostile.url, timeout=5).exits()
    hostile.answers(200, json.dumps({**page, "total": 1}).encode())
    (listed,) = IndexerClient(hostile.url, timeout=5).exits()
    assert listed == EXIT


def _fetch(mailbox: Mailbox, keys: int = 3):
    return mailbox.fetch(0, sign=lambda read: b"\x00" * 65, device="0x" + "ab" * 20, keys=keys)


def test_a_mailbox_indexer_answering_garbage(hostile):
    mailbox = Mailbox((hostile.url,), timeout=5)
    hostile.answers(200, b'{"items": ' + DEEP + b"}")
    assert _fetch(mailbox) == (
        [],
        {hostile.url: "served something that is not JSON (JSON nests deeper than 32 levels)"},
    )
    hostile.answers(200, b'{"items": [], "next": null, "pad": "' + b"x" * 3_000_000 + b'"}', declare_length=False)
    assert _fetch(mailbox) == ([], {hostile.url: "sent more than 2097152 bytes"})
    hostile.answers(200, b'{"items": {}, "next": null}')
    assert "not one" in _fetch(mailbox)[1][hostile.url]
    hostile.answers(409, b'["held", "newer"]')
    assert mailbox.put(hostile.url, 0, {"seq": 1}) == 'refused (HTTP 409): ["held", "newer"]'
    hostile.answers(401, b'{"error": "needs a signed read"}')
    assert _fetch(mailbox) == ([], {hostile.url: "HTTP 401: needs a signed read"})


def test_a_flooded_or_hostile_mailbox_is_read_no_further_than_the_roster_fills(hostile, monkeypatch):
    """One member could once flood the mailbox past the client's limit, after which every device got nothing."""
    monkeypatch.setattr(mailbox_module, "PAGE", 2)
    page = {"items": [{"device": "0x01", "seq": 1}] * 2, "next": "0x" + "ff" * 20}
    hostile.answers(200, json.dumps(page).encode())  # the same page, "more to come"
    items, errors = _fetch(Mailbox((hostile.url,), timeout=5), keys=3)
    assert len(items) == 4 and "pages that do not move forward" in errors[hostile.url]
    pages = iter(range(1, 10**6))
    hostile.answers(200, lambda path: json.dumps({**page, "next": f"0x{next(pages):040x}"}).encode())  # for ever
    items, errors = _fetch(Mailbox((hostile.url,), timeout=5), keys=3)
    assert len(items) == 2 * (3 // 2 + 2) and "more pages than the tailnet's 3 keys fill" in errors[hostile.url]
