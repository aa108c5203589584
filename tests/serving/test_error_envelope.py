"""One refusal envelope for the three HTTP services, and the error tree's statuses: whose failure it was
decides the status (an indexer outage is not the chain's)."""

import pytest
from fastapi.testclient import TestClient

from octravpn.chain.errors import ChainError, RpcUnreachable
from octravpn.client.discovery import IndexerUnavailable
from octravpn.daemon.localapi import build_app
from octravpn.daemon.service import Conflict, NotRegistered
from octravpn.indexer.api import create_app as indexer_app
from octravpn.indexer.database import migrate, open_engine
from octravpn.indexer.queries import Queries

ENVELOPE = {"error", "code", "detail", "exit_code"}


class _Daemon:
    """What the local API's handlers ask of a daemon: `up` fails the way the test says."""

    def __init__(self, failure: Exception) -> None:
        self.failure = failure

    def up(self, _wanted):
        raise self.failure


@pytest.fixture
def indexer(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path / 'index.sqlite3'}")
    migrate(engine)
    yield TestClient(indexer_app(Queries(engine), None))
    engine.dispose()


def test_the_exit_answers_every_refusal_in_the_envelope(handshake_app):
    exit_api = TestClient(handshake_app)
    refusals = [
        exit_api.post("/v1/peers", content=b"{nope", headers={"content-type": "application/json"}),  # handler
        exit_api.post("/v1/peers", content=b"[" * 100, headers={"content-type": "application/json"}),  # guard
        exit_api.get("/v1/sessions/-1/receipt-request"),  # FastAPI's parameter check
        exit_api.get("/v1/nothing-here"),  # FastAPI's unknown path
    ]
    assert [r.status_code for r in refusals] == [400, 400, 400, 404]
    for refusal in refusals:
        assert set(refusal.json()) == ENVELOPE and refusal.json()["code"] in ("bad-request", "not-found")


def test_the_indexer_answers_every_refusal_in_the_envelope(indexer):
    refusals = [
        indexer.get("/v1/exits", params={"limit": "many"}),
        indexer.get("/v1/exits/0x0000000000000000000000000000000000000001"),
        indexer.get("/v1/stats"),  # the index has not started
        indexer.post("/v1/tailnets/1/announcements", content=b"x" * 100_000),
    ]
    assert [r.status_code for r in refusals] == [400, 404, 503, 413]
    for refusal in refusals:
        assert set(refusal.json()) == ENVELOPE, refusal.json()
    assert refusals[0].json()["detail"][0]["loc"] == ["query", "limit"]


@pytest.mark.parametrize(
    ("failure", "status", "code", "exit_code"),
    [
        # Before: IndexerUnavailable was a ChainError, so an indexer outage was a 503 "the chain".
        (IndexerUnavailable("http://127.0.0.1:1", "connection refused"), 502, "upstream-refused", 5),
        (RpcUnreachable("http://127.0.0.1:1", "refused"), 503, "unavailable", 5),
        (Conflict("already up: take it down first"), 409, "conflict", 2),
        (NotRegistered("not registered", "0x01"), 412, "device-not-registered", 2),
    ],
)
def test_the_local_api_answers_by_whose_failure_it_was(failure, status, code, exit_code):
    api = TestClient(build_app(_Daemon(failure), control=True))
    answer = api.post("/v1/up", json={"exit": "auto"})
    assert answer.status_code == status and set(answer.json()) == ENVELOPE
    assert answer.json()["code"] == code and answer.json()["exit_code"] == exit_code
    assert answer.json()["error"] == str(failure)


def test_a_failure_no_one_foresaw_is_a_500_envelope_without_a_trace():
    api = TestClient(build_app(_Daemon(KeyError("state")), control=True), raise_server_exceptions=False)
    answer = api.post("/v1/up", json={"exit": "auto"})
    assert answer.status_code == 500 and set(answer.json()) == ENVELOPE
    assert "log" in answer.json()["error"] and "KeyError" not in answer.text


def test_an_indexer_outage_is_a_service_error_not_the_chains():
    assert not issubclass(IndexerUnavailable, ChainError)
