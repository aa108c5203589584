"""Indexer benchmarks: events ingested per second, and `/v1/exits` latency at 10,000 exits.

Run: `make bench-indexer` (or `.venv/bin/python bench/indexer.py [exits] [sessions]`,
default 10,000 exits and 6,000 sessions: 50,000+ events).

1. History: a fresh anvil (automine off, a large block gas limit, every sender
   impersonated) gets `exits` operators that bond and register (2 events each),
   a tailnet that allows 50 of them, and `sessions` sessions opened, claimed and
   confirmed (5 events each). Every transaction is checked to have succeeded.
2. Ingest: `Follower` from the deployment block to the head into a new SQLite
   file, timed end to end (eth_getLogs, headers, decoding, reducer, SQL, commit).
3. API: `octravpn indexer serve` over that file (a real uvicorn process); a
   bounded closed-loop load sends 4,000 `/v1/exits` queries (a fixed mix of
   filters, sorts and pages) on loopback after 200 warm-up ones, first from one
   client, then from 4 client processes at once; p50/p99 of each request's wall
   time as the client saw it.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from octravpn.chain.client import OctraVPN
from octravpn.chain.deploy import DeployParams, deploy
from octravpn.chain.devnet import Anvil, dev_private_key, free_port
from octravpn.config import Config, Network, isolated_environment
from octravpn.indexer.database import migrate, open_engine
from octravpn.indexer.follower import Follower, FollowSettings
from octravpn.indexer.rpc import JsonRpc
from octravpn.protocol import Domain, ReceiptSigner, sign

REGIONS = ["eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east", "sa-east", "af-south"]
ETHER = 10**18
CHUNK = 1000  # transactions per JSON-RPC batch and per mined block


def _call(signature: str, types: list[str], values: list) -> str:
    return "0x" + (keccak(text=signature)[:4] + encode(types, values)).hex()


class HistoryBuilder:
    def __init__(self, rpc: JsonRpc, contract: str) -> None:
        self.rpc, self.contract = rpc, contract
        self.nonces: dict[str, int] = {}

    def send_all(self, txs: list[dict]) -> None:
        """Send in batches, mine each batch into a block, and check every receipt."""
        unknown = sorted({tx["from"] for tx in txs} - set(self.nonces))
        counts = self.rpc.batch([("eth_getTransactionCount", [a, "pending"]) for a in unknown])
        for address, count in zip(unknown, counts, strict=True):
            self.nonces[address] = int(count, 16)
        for tx in txs:  # several from one sender in a batch: the node must not guess the nonce
            tx["nonce"] = hex(self.nonces[tx["from"]])
            self.nonces[tx["from"]] += 1
        for offset in range(0, len(txs), CHUNK):
            chunk = txs[offset : offset + CHUNK]
            hashes = self.rpc.batch([("eth_sendTransaction", [{"to": self.contract, **tx}]) for tx in chunk])
            self.rpc.call("evm_mine", [])
            receipts = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
            failed = [r for r in receipts if r is None or r["status"] != "0x1"]
            if failed:
                raise SystemExit(f"{len(failed)} transactions failed or were not mined, e.g. {failed[0]}")

    def build(self, exits: int, sessions: int) -> list[str]:
        rng = random.Random(7)
        operators = [Account.create().address for _ in range(exits)]
        self.rpc.batch([("anvil_setBalance", [a, hex(10 * ETHER)]) for a in operators])
        stake = [(2 * ETHER if i % 3 else ETHER) for i in range(exits)]
        self.send_all(
            [
                {
                    "from": a,
                    "gas": hex(120_000),
                    "value": hex(s),
                    "data": _call("bond_endpoint(uint256)", ["uint256"], [s]),
                }
                for a, s in zip(operators, stake, strict=True)
            ]
        )
        register = "register_endpoint(string,bytes32,string,uint256,address,bytes)"
        types = ["string", "bytes32", "string", "uint256", "address", "bytes"]
        domain = Domain(chain_id=int(self.rpc.call("eth_chainId", []), 16), verifying_contract=self.contract)
        receipt_keys = [Account.create() for _ in operators]
        self.send_all(
            [
                {
                    "from": a,
                    "gas": hex(600_000),
                    "data": _call(
                        register,
                        types,
                        [
                            f"203.0.113.{i % 250 + 1}:{51820 + i // 250}",
                            keccak(a.encode()),
                            REGIONS[i % len(REGIONS)],
                            rng.randrange(1, 100) * 10**11,
                            key.address,
                            sign(domain, ReceiptSigner(operator=a), bytes(key.key)),
                        ],
                    ),
                }
                for i, (a, key) in enumerate(zip(operators, receipt_keys, strict=True))
            ]
        )

        owner = Account.from_key(dev_private_key(4)).address
        self.send_all(
            [
                {
                    "from": owner,
                    "gas": hex(300_000),
                    "value": hex(100 * ETHER),
                    "data": _call("create_tailnet(bytes,uint256)", ["bytes", "uint256"], [b"{}", 100 * ETHER]),
                }
            ]
        )
        allowed = operators[:50]
        self.send_all(
            [
                {
                    "from": owner,
                    "gas": hex(150_000),
                    "data": _call("configure_tailnet_exit(uint256,address)", ["uint256", "address"], [0, e]),
                }
                for e in allowed
            ]
        )
        deposit = 10**15
        highest_price = 10**13  # every exit's price above is drawn below it
        self.send_all(
            [
                {
                    "from": owner,
                    "gas": hex(300_000),
                    "data": _call(
                        "open_session(uint256,address,uint256,uint256)",
                        ["uint256", "address", "uint256", "uint256"],
                        [0, allowed[i % 50], deposit, highest_price],
                    ),
                }
                for i in range(sessions)
            ]
        )
        used = [rng.randrange(1, 10_000) * 1000 for _ in range(sessions)]
        self.send_all(
            [
                {
                    "from": allowed[i % 50],
                    "gas": hex(150_000),
                    "data": _call("settle_claim(uint256,uint256)", ["uint256", "uint256"], [i, used[i]]),
                }
                for i in range(sessions)
            ]
        )
        self.send_all(
            [
                {
                    "from": owner,
                    "gas": hex(400_000),
                    "data": _call("settle_confirm(uint256,uint256)", ["uint256", "uint256"], [i, used[i]]),
                }
                for i in range(sessions)
            ]
        )
        return operators


def ingest(rpc: JsonRpc, contract: str, database: Path) -> tuple[int, float]:
    engine = open_engine(f"sqlite:///{database}")
    migrate(engine)
    follower = Follower(engine, rpc, contract=contract, chain_id=31337, settings=FollowSettings())
    follower.initialize()
    events, started = 0, time.perf_counter()
    while True:
        step = follower.step()
        events += step.events
        if step.caught_up:
            break
    elapsed = time.perf_counter() - started
    engine.dispose()
    return events, elapsed


def _queries(rng: random.Random) -> list[dict]:
    shapes = [
        lambda: {},
        lambda: {"region": rng.choice(REGIONS)},
        lambda: {"max_price": rng.randrange(1, 100) * 10**11, "sort": "-reputation"},
        lambda: {"min_stake": 2 * ETHER, "sort": "-stake"},
        lambda: {"region": rng.choice(REGIONS), "max_price": rng.randrange(1, 100) * 10**11, "min_stake": ETHER},
        lambda: {
            "sort": rng.choice(["price", "-price", "stake", "registered", "region"]),
            "offset": rng.randrange(0, 9000),
        },
        lambda: {"active": "false", "limit": 200, "offset": rng.randrange(0, 9800)},
        lambda: {"tailnet": 0, "sort": "-reputation"},
    ]
    return [rng.choice(shapes)() for _ in range(4200)]


def _client(url: str, part: list[dict], results) -> None:
    """One load process: requests in sequence, each one's wall time as the client saw it."""
    latencies = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for params in part:
            started = time.perf_counter()
            response = client.get("/v1/exits", params=params)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                results.put(f"/v1/exits?{params} answered {response.status_code}: {response.text[:200]}")
                return
    results.put(latencies)


def load(url: str, *, clients: int = 4) -> list[float]:
    """Closed-loop load: `clients` processes (one Python client would queue on its own GIL), after a warm-up."""
    queries = _queries(random.Random(11))
    warm_up, measured = queries[:200], queries[200:]
    latencies: list[float] = []
    for part, record in ((warm_up, False), (measured, True)):
        results = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(target=_client, args=(url, part[i::clients], results)) for i in range(clients)
        ]
        for worker in workers:
            worker.start()
        answers = [results.get(timeout=300) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        for answer in answers:
            if isinstance(answer, str):
                raise SystemExit(answer)
            if record:
                latencies += answer
    return latencies


def serve(home: Path, network: Network, database: Path) -> tuple[subprocess.Popen, str]:
    env = isolated_environment(home)
    config = Config(path=home / "config" / "octravpn" / "config.toml", data_dir=home / "data")
    config.with_network(network, make_default=True).save()
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "octravpn.cli.main",
            "indexer",
            "serve",
            "--db",
            f"sqlite:///{database}",
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/stats", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"indexer serve did not start: {process.stderr.read().decode()[-2000:]}")


def report(exits: int, clients: int, latencies: list[float]) -> None:
    latencies = sorted(latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000
    rate = len(latencies) / sum(latencies) * clients
    print(
        f"/v1/exits at {exits} exits (SQLite), {clients} concurrent client(s), {len(latencies)} requests: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms (~{rate:.0f} requests/s)",
        flush=True,
    )


def main(exits: int, sessions: int) -> int:
    with tempfile.TemporaryDirectory() as tmp, Anvil() as anvil:
        home = Path(tmp)
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        contract = deploy(w3, Account.from_key(dev_private_key(0)), DeployParams()).address
        rpc = JsonRpc(anvil.rpc_url, timeout=300)
        rpc.call("evm_setAutomine", [False])
        rpc.call("evm_setBlockGasLimit", [hex(2_000_000_000)])
        rpc.call("anvil_autoImpersonateAccount", [True])
        started = time.perf_counter()
        HistoryBuilder(rpc, contract).build(exits, sessions)
        vpn = OctraVPN(w3, contract)
        assert len(vpn.registered_exits()) == exits and vpn.session_count() == sessions
        print(
            f"history: {exits} exits, {sessions} settled sessions, {rpc.block_number()} blocks, "
            f"built in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

        database = home / "index.sqlite3"
        events, elapsed = ingest(rpc, contract, database)
        print(
            f"ingest (SQLite): {events} events in {elapsed:.1f} s = {events / elapsed:,.0f} events/s "
            f"({os.path.getsize(database) / 1e6:.0f} MB)",
            flush=True,
        )

        network = Network(name="bench", rpc_url=anvil.rpc_url, chain_id=31337, contract=contract)
        process, url = serve(home, network, database)
        try:
            for clients in (1, 4):
                report(exits, clients, load(url, clients=clients))
        finally:
            process.terminate()
            process.wait(timeout=30)
        rpc.close()
    return 0


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    sys.exit(main(*(arguments + [10_000, 6_000][len(arguments) :])))
