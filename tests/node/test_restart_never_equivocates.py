"""A restart of the exit never signs two different receipt requests for one (session, seq).

Two operator-signed requests with the same seq and different bytes are what `slash_double_sign`
punishes, and the client's agent saves them as evidence automatically. The exit once stored only
*signed* receipts, so a request the client fetched but had not signed was reissued after a restart
under the same seq with more bytes. Here the whole exit (store, meters, receipt channel, API) is
rebuilt from its database at every point of a session, as after `kill -9`, while a client fetches,
signs and keeps every request the receipt key signed."""

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from octravpn.node.api import create_app
from octravpn.node.receipts import ReceiptChannel
from octravpn.node.store import NodeStore
from octravpn.protocol import Receipt, recover, sign
from tests.fakehost import FakeHost
from tests.node.fakes import DOMAIN, EXIT_KEYS, OPENER, FakeChain, _body, read_header
from tests.node.test_metering_and_receipts import MB, RECEIPT_KEY, Counters, exit_parts


class World:
    """An exit that can be killed and restarted at any point, and an honest client."""

    def __init__(self, path):
        self.path, self.host = path, FakeHost()
        self.host.interface("ovpn0", EXIT_KEYS.private_b64, address="10.77.0.1/24")  # it outlives every restart
        self.requests: dict[int, int] = {}  # every operator-signed request the client ever saw: seq -> bytes
        self.signed_seq = 0
        self.start()
        assert self.api.post("/v1/peers", json=_body()).status_code == 200
        self.counters = Counters(self.host)

    def start(self):
        self.store = NodeStore(self.path)
        chain = FakeChain()
        handshake, self.meters = exit_parts(self.host, self.store, max_unsigned=10**12)
        receipts = ReceiptChannel(
            domain=DOMAIN, chain=chain, store=self.store, meters=self.meters, receipt_key=RECEIPT_KEY.key
        )
        self.api = TestClient(create_app(handshake, receipts))

    def restart(self):
        self.store.close()  # every write was committed: what a kill -9 leaves
        self.start()
        self.tick()  # the agent's first reading after a start

    def carry(self, megabytes):
        self.counters.rx += megabytes * MB

    def tick(self):
        self.meters.tick()

    def fetch(self):
        response = self.api.get("/v1/sessions/7/receipt-request", headers=read_header())
        if response.status_code == 204:
            return
        body = response.json()
        receipt = Receipt(session_id=7, seq=body["seq"], bytes_used=body["bytes_used"])
        assert recover(DOMAIN, receipt, bytes.fromhex(body["operator_signature"][2:])) == RECEIPT_KEY.address
        earlier = self.requests.setdefault(receipt.seq, receipt.bytes_used)
        assert earlier == receipt.bytes_used, (
            f"equivocation: seq {receipt.seq} for {earlier} and {receipt.bytes_used} bytes"
        )

    def sign(self):
        if not self.requests or max(self.requests) <= self.signed_seq:
            return
        seq = max(self.requests)
        receipt = Receipt(session_id=7, seq=seq, bytes_used=self.requests[seq])
        answer = self.api.post(
            "/v1/sessions/7/receipts",
            json={
                "seq": seq,
                "bytes_used": receipt.bytes_used,
                "signature": "0x" + sign(DOMAIN, receipt, OPENER.key).hex(),
            },
        )
        assert answer.status_code == 200, answer.text
        self.signed_seq = seq

    def close(self):
        self.store.close()


SCRIPT = [
    ("carry", 12),
    ("tick",),
    ("fetch",),
    ("carry", 5),
    ("tick",),
    ("fetch",),
    ("sign",),
    ("carry", 15),
    ("tick",),
    ("fetch",),
    ("carry", 11),
    ("tick",),
    ("fetch",),
    ("carry", 3),
    ("tick",),
    ("fetch",),
    ("sign",),
    ("carry", 20),
    ("tick",),
    ("fetch",),
    ("tick",),
    ("fetch",),
    ("sign",),
]


def _run(world, steps):
    for name, *args in steps:
        getattr(world, name)(*args)


def test_a_restart_at_every_point_of_a_session_never_reissues_a_seq_with_other_bytes(tmp_path):
    for point in range(len(SCRIPT) + 1):
        world = World(tmp_path / f"restart-{point}.db")
        try:
            _run(world, SCRIPT[:point])
            world.restart()
            _run(world, SCRIPT[point:])
            world.fetch()
            world.sign()
            assert world.signed_seq == max(world.requests)  # the client could sign everything it was asked
            assert world.store.latest_receipt(7)[0].seq == world.signed_seq
        finally:
            world.close()


STEP = st.one_of(
    st.tuples(st.just("carry"), st.integers(0, 25)), st.sampled_from([("tick",), ("fetch",), ("sign",), ("restart",)])
)


@given(steps=st.lists(STEP, max_size=40))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None)
def test_any_interleaving_of_restarts_never_equivocates(tmp_path_factory, steps):
    world = World(tmp_path_factory.mktemp("fuzz") / "node.db")
    try:
        _run(world, steps)  # `fetch` asserts that no seq ever comes back with other bytes
    finally:
        world.close()
