"""The client agent: `octravpn up`, the receipt loop while connected, `octravpn down`.

`connect` opens (or reuses) a session, joins the exit with a signed
`PeerRequest`, checks the exit answers with the WireGuard key it registered,
and then configures the interface, routes, kill switch and DNS, undoing every
step if a later one fails. `tick` meters the tunnel from the client's own
WireGuard counters and signs the exit's receipt requests only for bytes it
saw (plus a leeway and a share for lost datagrams; asked for more, it signs
that much), and only requests the operator's receipt key signed.
`leave` asks the exit to end the session, signs the last receipt, restores
the network, and waits for the settlement, confirming the exit's claim with
its own figure (a different figure records a dispute on chain).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from octravpn.chain.client import OctraVPN
from octravpn.chain.errors import ChainError, ContractRevert
from octravpn.client import network as host_network
from octravpn.client.exit_api import ExitAPI, ExitAPIError
from octravpn.client.state import ClientState
from octravpn.errors import OctraVPNError, UsageError
from octravpn.node.settlement import STATUS_OPEN, STATUS_SETTLED
from octravpn.protocol.eip712 import Domain, PeerRequest, Receipt, recover, sign
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.handshake import LEAVE_KEY
from octravpn.protocol.metering import BYTES_PER_MB, ClientMeter
from octravpn.wireguard.config import InterfaceConfig, PeerConfig, WireGuardConfigError, split_endpoint
from octravpn.wireguard.engine import Engine
from octravpn.wireguard.keys import Keypair, decode_key, encode_key
from octravpn.wireguard.runner import CommandError, CommandRunner

log = logging.getLogger("octravpn.client")
KEEPALIVE_SECONDS = 25


class ConnectError(OctraVPNError):
    exit_code = 5


@dataclass(frozen=True, kw_only=True)
class ClientOptions:
    interface: str = "ovpn0"
    kill_switch: bool = True
    accept_dns: bool = True
    dns_file: Path = Path("/etc/resolv.conf")
    leeway: int = BYTES_PER_MB
    loss_percent: float = 10.0  # datagrams the exit sent (and counted) that never arrived here
    chain_poll_seconds: float = 5.0
    rpc_timeout: float = 10.0  # one chain request of the agent: a stalled RPC is noticed, not waited out


@dataclass(frozen=True)
class Joined:
    """What the exit answered to the handshake, checked against the chain."""

    session_id: int
    exit_public_key: bytes
    endpoint: str
    client_address: str
    exit_address: str
    dns: tuple[str, ...]


def resolve_ipv4(host: str) -> str:
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0]
    except (socket.gaierror, IndexError) as exc:
        raise ConnectError(f"cannot resolve the exit's host {host!r}: {exc}") from exc


def rpc_bypass(rpc_url: str) -> host_network.Bypass | None:
    """A chain RPC on a private or loopback address stays outside the tunnel (an exit refuses those)."""
    parsed = urlparse(rpc_url)
    if not parsed.hostname:
        return None
    address = resolve_ipv4(parsed.hostname)
    if not host_network.is_private(address):
        return None
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return host_network.Bypass(address=address, tcp_ports=(port,))


class ClientAgent:
    def __init__(self, *, client: OctraVPN, account: LocalAccount, network_name: str, rpc_url: str, runner: CommandRunner,
                 state_path: Path, options: ClientOptions, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.account = account
        self.network_name = network_name
        self.rpc_url = rpc_url
        self.runner = runner
        self.engine = Engine(runner)
        self.state_path = state_path
        self.options = options
        self.clock = clock
        self.domain = Domain(chain_id=client.w3.eth.chain_id, verifying_contract=client.address)
        self.state: ClientState | None = None
        self.meter: ClientMeter | None = None
        self.counter_base = 0  # bytes of an earlier interface of a reused session
        self.api: ExitAPI | None = None
        self.receipt_signer: str | None = None
        self.operator_requests: dict[int, tuple[int, str]] = {}  # seq -> (bytes, operator signature)
        self.chain_view: tuple[int | None, str | None] | None = None  # (session status, error) from `poll_chain`

    # ---------------------------------------------------------- connect
    def connect(self, *, exit_addr: str, tailnet_id: int | None, max_pay: int | None, session_id: int | None,
                previous: ClientState | None, chosen_price: int | None = None) -> ClientState:
        """`chosen_price`: the price the exit was chosen at (by `--exit auto`); else its price on chain now.
        A new session opens at that price or not at all."""
        exit_addr = to_checksum_address(exit_addr)
        registered, exit_ip, port = self.locate(exit_addr)
        max_price = registered.price_per_mb if chosen_price is None else chosen_price
        keys = Keypair.generate()

        reused = self._reusable(exit_addr, session_id, previous)
        try:
            sid = reused if reused is not None else self.open_session(exit_addr, tailnet_id, max_pay, max_price)
            joined = self.join(sid, keys, registered.wg_pubkey)
        except ExitAPIError as exc:
            if reused is None or session_id is not None or exc.status != 409:
                raise
            log.info("session %d was ended by the exit: opening a new one", reused)
            sid = self.open_session(exit_addr, tailnet_id, max_pay, max_price)
            joined = self.join(sid, keys, registered.wg_pubkey)
        session = self.client.session(sid)
        state = ClientState(
            interface=self.options.interface, network=self.network_name, session_id=sid, exit=exit_addr,
            opener=self.account.address, tailnet_id=session.tailnet_id, deposit=session.deposit,
            price_per_mb=session.price_per_mb, exit_endpoint=f"{exit_ip}:{port}", api_url=self.api.base_url,
            client_address=joined.client_address, exit_address=joined.exit_address,
        )
        self.meter = ClientMeter(session_id=sid, leeway=self.options.leeway, loss_percent=self.options.loss_percent)
        if previous is not None and previous.session_id == sid:
            # Same session on a new interface: carry what was measured and signed.
            self.counter_base = previous.measured_bytes
            last = Receipt(session_id=sid, seq=previous.signed_seq, bytes_used=previous.signed_bytes) if previous.signed_seq else None
            self.meter.restore(measured=previous.measured_bytes, last=last)
            state.signed_seq, state.signed_bytes = previous.signed_seq, previous.signed_bytes
            state.receipts_signed, state.measured_bytes = previous.receipts_signed, previous.measured_bytes
        self.state = state
        self._bring_up(state, keys, joined, exit_ip, port)
        return state

    def locate(self, exit_addr: str):
        """The exit's registration, the IPv4 address and port to reach it; points the API client at it."""
        registered = self.client.endpoint(exit_addr)
        if registered.registered_at == 0:
            raise UsageError(f"{exit_addr} is not a registered exit: see `octravpn operator list`")
        self.receipt_signer = to_checksum_address(registered.receipt_signer)
        host, port = exit_endpoint(registered.endpoint)
        exit_ip = resolve_ipv4(host)
        self.api = ExitAPI(f"http://{exit_ip}:{port}")
        return registered, exit_ip, port

    def _reusable(self, exit_addr: str, session_id: int | None, previous: ClientState | None) -> int | None:
        candidate = session_id if session_id is not None else (previous.session_id if previous and previous.exit == exit_addr else None)
        if candidate is None:
            return None
        try:
            session = self.client.session(candidate)
        except ChainError:
            if session_id is not None:
                raise
            return None
        usable = session.status == STATUS_OPEN and to_checksum_address(session.exit) == exit_addr and \
            to_checksum_address(session.opener) == self.account.address
        if session_id is not None and not usable:
            raise UsageError(f"session {session_id} is not an open session of yours on {exit_addr}")
        return candidate if usable else None

    def open_session(self, exit_addr: str, tailnet_id: int | None, max_pay: int | None,
                     max_price: int | None = None) -> int:
        """Open a session at most at `max_price` per MB (default: the exit's price as listed now)."""
        if not self.client.is_active(exit_addr):
            raise UsageError(f"exit {exit_addr} takes no new sessions (retired, slashed or under-bonded)")
        tailnet_id = self._tailnet_for(exit_addr) if tailnet_id is None else tailnet_id
        deposit = max_pay if max_pay is not None else self.client.params().min_session_deposit
        try:
            sid, result = self.client.open_session(tailnet_id, exit_addr, deposit, max_price)
        except ContractRevert as exc:
            if exc.reason != "exit price above max_price_per_mb":
                raise
            now = self.client.endpoint(exit_addr).price_per_mb
            raise ConnectError(f"exit {exit_addr} raised its price to {now} per MB after it was chosen at {max_price}: "
                               "no session was opened; choose the exit again") from exc
        log.info("opened session %d on tailnet %d (deposit %d, tx %s)", sid, tailnet_id, deposit, result.tx_hash)
        return sid

    def _tailnet_for(self, exit_addr: str) -> int:
        """The one tailnet the wallet (or the member it is a device of) belongs to that allows the exit."""
        owner = self.client.device_owner(self.account.address)
        member = owner if int(owner, 16) else self.account.address
        found = [t for t in range(self.client.tailnet_count())
                 if self.client.is_member(t, member) and self.client.is_exit(t, exit_addr)]
        if len(found) != 1:
            which = "none" if not found else ", ".join(map(str, found))
            raise UsageError(f"pass --tailnet: tailnets of {member} that allow this exit: {which}")
        return found[0]

    def join(self, session_id: int, keys: Keypair, registered_key: bytes, *, signs_receipts: bool = True) -> Joined:
        """Ask the exit to add `keys` as the session's peer; its answer must carry the key on chain."""
        request = PeerRequest(session_id=session_id, wg_pubkey=keys.public, timestamp=int(self.clock()))
        answer = self.api.add_peer({
            "session_id": session_id, "wg_pubkey": keys.public_b64, "timestamp": request.timestamp,
            "receipts": signs_receipts, "signature": "0x" + sign(self.domain, request, self.account.key).hex()})
        try:
            exit_key = decode_key(answer["exit_public_key"])
            joined = Joined(session_id=session_id, exit_public_key=exit_key, endpoint=answer["endpoint"],
                            client_address=str(ipaddress.ip_interface(answer["client_address"])),
                            exit_address=str(ipaddress.ip_address(answer["exit_address"])),
                            dns=tuple(str(ipaddress.ip_address(d)) for d in answer.get("dns", [])))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConnectError(f"the exit's handshake answer is malformed: {exc}") from exc
        if exit_key != registered_key:
            # Plain HTTP: only the key on chain proves this is the exit we pay.
            raise ConnectError(f"the exit answered with WireGuard key {encode_key(exit_key)}, not the one it registered "
                               f"({encode_key(registered_key)}): refusing to connect")
        return joined

    def _bring_up(self, state: ClientState, keys: Keypair, joined: Joined, exit_ip: str, port: int) -> None:
        name = self.options.interface
        bypasses = [host_network.Bypass(address=exit_ip, udp_ports=(port,), tcp_ports=(port,))]
        rpc = rpc_bypass(self.rpc_url)
        if rpc is not None and rpc.address != exit_ip:
            bypasses.append(rpc)
        routing = host_network.TunnelRouting(interface=name, bypasses=tuple(bypasses))
        try:
            self.engine.up(InterfaceConfig(name=name, private_key=keys.private, addresses=(joined.client_address,), peers=(
                PeerConfig(public_key=joined.exit_public_key, allowed_ips=("0.0.0.0/0",), endpoint=f"{exit_ip}:{port}",
                           persistent_keepalive=KEEPALIVE_SECONDS),)))
            state.routes = host_network.apply_routes(self.runner, routing)
            state.save(self.state_path)  # from here on `down` can undo what was done
            if self.options.kill_switch:
                host_network.apply_kill_switch(self.runner, routing)
                state.kill_switch_table = routing.table
            if self.options.accept_dns and joined.dns:
                state.dns_backup = host_network.set_dns(self.options.dns_file, joined.dns)
                state.dns_file, state.dns = str(self.options.dns_file), list(joined.dns)
            state.status, state.connected_at = "connected", self.clock()
            state.save(self.state_path)
        except (CommandError, OSError) as exc:
            restore_network(self.runner, state)
            state.status, state.last_error = "down", f"could not configure the network: {exc}"
            state.save(self.state_path)
            raise ConnectError(f"could not configure the network: {exc}") from exc

    # ------------------------------------------------------------ ticks
    def measured(self) -> int:
        for peer in self.engine.peers(self.options.interface):
            return self.counter_base + peer.rx_bytes + peer.tx_bytes
        return self.meter.measured

    def tick(self) -> None:
        """Meter and sign the exit's request: WireGuard and the exit's API only, so a stalled chain never
        delays a receipt (the chain is read by `poll_chain`, on another thread)."""
        state = self.state
        try:
            self.meter.observe(self.measured())
            state.measured_bytes = self.meter.measured
            request = self.api.receipt_request(state.session_id)
            if request is not None and request.get("seq", 0) > state.signed_seq:
                self._sign(request)
            state.last_error = None
        except (ExitAPIError, CommandError, ProtocolError) as exc:
            state.last_error = str(exc)
        if self.chain_view is not None and state.status == "connected":
            status, error = self.chain_view
            if status is not None and status != STATUS_OPEN:
                state.status = "ended"  # settled or refunded: the kill switch stays until `down`
                state.last_error = "the session ended on chain: run `octravpn down`, then `up` again"
            elif error is not None and state.last_error is None:
                state.last_error = error
        state.updated_at = self.clock()
        state.save(self.state_path)

    def poll_chain(self) -> None:
        """Read the session's status on chain; `tick` shows it. Runs on its own thread."""
        try:
            self.chain_view = (self.client.session(self.state.session_id).status, None)
        except ChainError as exc:
            self.chain_view = (None, f"cannot read the chain (receipts go on without it): {exc}")

    def _sign(self, request: dict) -> None:
        """Sign the exit's request if the operator's receipt key made it and the bytes were seen here."""
        state = self.state
        try:
            seq, bytes_used = int(request["seq"]), int(request["bytes_used"])
            asked = Receipt(session_id=state.session_id, seq=seq, bytes_used=bytes_used)
            operator_signature = str(request["operator_signature"])
            signer = recover(self.domain, asked, bytes.fromhex(operator_signature.removeprefix("0x")))
        except (KeyError, TypeError, ValueError, ProtocolError) as exc:
            raise ExitAPIError(None, f"malformed receipt request: {exc}") from exc
        if signer != self.receipt_signer:
            state.requests_refused += 1
            raise ExitAPIError(None, "a receipt request not signed by the exit's receipt key was ignored")
        earlier = self.operator_requests.setdefault(seq, (bytes_used, operator_signature))
        if earlier[0] != bytes_used:
            self._save_evidence(seq, earlier, (bytes_used, operator_signature))
        self.meter.observe(self.measured())
        state.measured_bytes = self.meter.measured
        if self.meter.last is not None and self.meter.last.seq == seq:
            receipt = self.meter.last  # signed before, but the exit never acknowledged it: send it again
        else:
            try:
                receipt = self.meter.receipt_for(seq, bytes_used)
            except ProtocolError:
                state.requests_refused += 1
                raise
        if receipt.bytes_used < bytes_used:
            log.info("the exit asked for %d bytes for seq %d; signed for %d (what this side saw, plus --leeway and "
                     "--loss)", bytes_used, seq, receipt.bytes_used)
        signature = sign(self.domain, receipt, self.account.key)
        self.api.submit_receipt(state.session_id, {"seq": seq, "bytes_used": receipt.bytes_used,
                                                   "signature": "0x" + signature.hex()})
        state.signed_seq, state.signed_bytes = seq, receipt.bytes_used
        state.receipts_signed += 1

    def _save_evidence(self, seq: int, first: tuple[int, str], second: tuple[int, str]) -> None:
        """Two operator-signed requests for one (session, seq): what `octravpn slash --evidence` takes."""
        path = self.state_path.with_name(f"evidence-{self.state.session_id}-{seq}.json")
        path.write_text(json.dumps({
            "operator": self.state.exit, "session_id": self.state.session_id, "seq": seq,
            "bytes_a": first[0], "sig_a": first[1], "bytes_b": second[0], "sig_b": second[1]}, indent=1))
        log.error("the exit signed two different receipts for seq %d: evidence saved to %s", seq, path)

    # ------------------------------------------------------------ leave
    def leave(self, *, settle_wait: float) -> dict:
        """End the session with the exit, restore the network, wait for (and confirm) the settlement."""
        state = self.state
        state.status = "closing"
        state.save(self.state_path)
        try:
            request = PeerRequest(session_id=state.session_id, wg_pubkey=LEAVE_KEY, timestamp=int(self.clock()))
            answer = self.api.leave(state.session_id, {
                "timestamp": request.timestamp, "signature": "0x" + sign(self.domain, request, self.account.key).hex()})
            last = answer.get("receipt_request")
            if last is not None and last.get("seq", 0) > state.signed_seq:
                self._sign(last)
        except (ExitAPIError, ProtocolError, CommandError) as exc:
            state.last_error = f"leaving: {exc}"
            log.warning("the exit did not take the leave or the last receipt: %s", exc)
        restore_network(self.runner, state)
        state.settlement = self.await_settlement(settle_wait)
        state.status = "down"
        state.save(self.state_path)
        return state.settlement

    def await_settlement(self, wait: float) -> dict:
        """Poll the session until it settles; confirm the exit's claim with this side's figure."""
        state = self.state
        figure = state.signed_bytes if state.receipts_signed else state.measured_bytes
        deadline = self.clock() + wait
        confirmed = None
        while True:
            try:
                session = self.client.session(state.session_id)
                if session.status != STATUS_OPEN:
                    return self._outcome(session.status)
                claim = self.client.operator_claim(state.session_id)
                if claim.is_set and confirmed is None:
                    result = self.client.settle_confirm(state.session_id, figure)
                    confirmed = figure
                    if "SessionSettled" not in [e.name for e in result.events]:
                        log.warning("the exit claims %d bytes, this side %d: dispute recorded on chain",
                                    claim.bytes_used, figure)
                        state.last_error = f"disputed: the exit claimed {claim.bytes_used} bytes, you confirmed {figure}"
                    continue
            except ChainError as exc:
                state.last_error = f"waiting for the settlement: {exc}"
            if self.clock() >= deadline:
                return {"status": "open", "confirmed_bytes": confirmed, "signed_bytes": state.signed_bytes,
                        "note": "not settled yet: the exit can settle with your last receipt until the session grace ends"}
            time.sleep(1.0)

    def _outcome(self, status: int) -> dict:
        state = self.state
        if status != STATUS_SETTLED:
            return {"status": "refunded", "paid": 0, "refund": state.deposit}
        for event in self.client.session_events(state.session_id):
            if event.name == "SessionSettled":
                return {"status": "settled", "bytes_used": event.args["bytes_used"], "paid": event.args["total_paid"],
                        "refund": state.deposit - event.args["total_paid"], "tx": event.tx_hash}
        return {"status": "settled"}


def restore_network(runner: CommandRunner, state: ClientState) -> None:
    """Undo `connect`'s changes, from the state file alone (so also after the agent died)."""
    if state.kill_switch_table:
        host_network.remove_kill_switch(runner, state.kill_switch_table)
        state.kill_switch_table = None
    host_network.remove_routes(runner, state.routes)
    state.routes = []
    if state.dns_file and state.dns_backup is not None:
        host_network.restore_dns(Path(state.dns_file), state.dns_backup)
        state.dns_file = state.dns_backup = None
    Engine(runner).down(state.interface)


def exit_endpoint(endpoint: str) -> tuple[str, int]:
    try:
        return split_endpoint(endpoint)
    except WireGuardConfigError as exc:
        raise ConnectError(f"the exit's registered endpoint is unusable: {exc}") from exc
