"""BodyGuard refuses hostile bodies before anything parses them, on both services' apps."""

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from octravpn.node.api import BODY_LIMITS
from octravpn.serving import BodyGuard, BodyLimits, json_depth_exceeds
from tests.node.fakes import NOW, _body, read_header


@pytest.mark.parametrize(
    "body, limit, deep",
    [
        (b"[[[]]]", 3, False),
        (b"[[[[]]]]", 3, True),
        (b'{"a": {"b": []}}', 3, False),
        (b'{"a": "[[[[[[[[", "b": 1}', 2, False),  # brackets inside strings do not nest
        (b'["\\"[[[["]', 1, False),  # nor after an escaped quote
        (b"[" * 100_000, 32, True),
        (b"]]]]" + b"[" * 3, 3, False),  # malformed: left to the parser
    ],
)
def test_json_depth(body, limit, deep):
    assert json_depth_exceeds(body, limit) is deep


@pytest.fixture
def exit_api(handshake_app):
    return TestClient(handshake_app)


def test_deeply_nested_json_is_a_400_not_a_crash(exit_api):
    response = exit_api.post("/v1/peers", content=b"[" * 4000, headers={"content-type": "application/json"})
    assert response.status_code == 400 and "nests deeper than 8" in response.json()["error"]


def test_an_oversized_body_is_refused_by_its_declared_length(exit_api):
    response = exit_api.post(
        "/v1/peers", content=b" " * (BODY_LIMITS.max_bytes + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and f"at most {BODY_LIMITS.max_bytes}" in response.json()["error"]


def test_an_oversized_body_without_a_length_is_cut_off_while_streaming(exit_api):
    def chunks():  # chunked transfer: no Content-Length to trust
        for _ in range(100):
            yield b" " * 1024

    response = exit_api.post("/v1/peers", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "over 8192 bytes" in response.json()["error"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_a_415(exit_api, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = exit_api.post("/v1/peers", content=json.dumps(_body()).encode(), headers=headers)
    assert response.status_code == 415 and "send the body as application/json" in response.json()["error"]


def test_json_with_a_charset_is_accepted(exit_api):
    response = exit_api.post(
        "/v1/peers", content=json.dumps(_body()).encode(), headers={"content-type": "application/json; charset=utf-8"}
    )
    assert response.status_code == 200, response.text


def test_a_bad_content_length_is_a_400(exit_api):
    response = exit_api.post(
        "/v1/peers", content=b"{}", headers={"content-type": "application/json", "content-length": "-1"}
    )
    assert response.status_code == 400 and "Content-Length" in response.json()["error"]


def test_a_body_that_trickles_in_is_a_408():
    async def app(scope, receive, send):  # never reached
        raise AssertionError("the app must not see a body that never finished")

    sent = []

    async def receive():
        await asyncio.sleep(3600)  # a client that opens a body and sends nothing more

    async def send(message):
        sent.append(message)

    guard = BodyGuard(app, BodyLimits(max_bytes=100, read_timeout=0.2))
    asyncio.run(
        guard({"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")]}, receive, send)
    )
    assert sent[0]["status"] == 408 and b"did not arrive within" in sent[1]["body"]


def test_a_session_id_beyond_sqlite_is_a_404_and_beyond_uint256_a_400(exit_api):
    huge = 2**70  # a valid uint256, beyond SQLite's integers
    response = exit_api.post(f"/v1/sessions/{huge}/close", json={"timestamp": NOW, "signature": "0x" + "11" * 65})
    assert response.status_code == 404 and "not served here" in response.json()["error"]
    response = exit_api.post(
        f"/v1/sessions/{huge}/receipts", json={"seq": 1, "bytes_used": 1, "signature": "0x" + "11" * 65}
    )
    assert response.status_code in (400, 404) and "error" in response.json()
    response = exit_api.get(f"/v1/sessions/{huge}/receipt-request", headers=read_header(session_id=huge))
    assert response.status_code == 404 and "not served here" in response.json()["error"]
    response = exit_api.get(f"/v1/sessions/{2**256}/receipt-request")
    assert response.status_code == 400 and "session_id" in response.json()["error"]
