"""Where a peer sees this device from: asked and answered in one datagram each (real UDP on loopback)."""

from octravpn.mesh.peerapi import PeerService, answer, ask, parse_answer


def test_a_peer_answers_where_it_sees_the_asker_and_nothing_else():
    seen = {}

    def observed(address: str) -> str | None:
        seen["asked_about"] = address
        return "203.0.113.5:41641"

    service = PeerService("127.0.0.1", observed)
    try:
        assert ask(["127.0.0.1"], timeout=2) == {"127.0.0.1": "203.0.113.5:41641"}
        assert seen["asked_about"] == "127.0.0.1"  # about the asker, known by its source address
    finally:
        service.close()


def test_answers_are_parsed_strictly():
    assert parse_answer(answer("100.64.0.1", lambda a: "198.51.100.1:1")) == "198.51.100.1:1"
    assert parse_answer(answer("100.64.0.1", lambda a: None)) is None
    for bad in (b"", b"[1]", b'{"endpoint": 5}', b'{"endpoint": "' + b"9" * 100 + b'"}', b"x" * 600):
        assert parse_answer(bad) is None
    assert ask(["127.0.0.9"], timeout=0.2) == {}  # nobody there: no answer, no error
