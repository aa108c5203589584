"""Signing the exit's receipt requests, for no more than this side saw.

The exit asks (each request signed by the operator's receipt key) for a
receipt over the bytes it counted; this side signs for at most what its own
WireGuard counters saw, plus a leeway and a share for lost datagrams
(`ClientMeter`). Two operator-signed requests for one (session, seq) with
different byte counts are equivocation: they are kept as slashing evidence.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from eth_account.signers.local import LocalAccount

from octravpn.client.exit_api import ExitAPI, ExitAPIError
from octravpn.client.state import Connection
from octravpn.protocol.eip712 import Domain, Receipt, recover, sign
from octravpn.protocol.errors import ProtocolError
from octravpn.protocol.exitwire import ReceiptAsk, SessionRead, SignedReceipt, WireFormatError
from octravpn.protocol.metering import ClientMeter

log = logging.getLogger("octravpn.client")


class ReceiptDesk:
    """Answers one session's receipt requests; its figures live in the `Connection` (persisted by the daemon)."""

    def __init__(
        self,
        *,
        connection: Connection,
        account: LocalAccount,
        domain: Domain,
        leeway: int,
        loss_percent: float,
        evidence_dir: Path,
    ) -> None:
        self.connection = connection
        self.account = account
        self.domain = domain
        self.evidence_dir = evidence_dir
        self.api = ExitAPI(connection.api_url, timeout=1.0)  # a tick waits no longer for a dead exit
        self.meter = ClientMeter(session_id=connection.session_id, leeway=leeway, loss_percent=loss_percent)
        last = None
        if connection.signed_seq:
            last = Receipt(
                session_id=connection.session_id, seq=connection.signed_seq, bytes_used=connection.signed_bytes
            )
        self.meter.restore(measured=connection.measured_bytes, last=last)
        self.operator_requests: dict[int, tuple[int, str]] = {}  # seq -> (bytes, operator signature)

    def observe(self, interface_bytes: int) -> None:
        """The interface's counters (both ways) for this session."""
        self.meter.observe(self.connection.counter_base + interface_bytes)
        self.connection.measured_bytes = self.meter.measured

    def answer(self) -> bool:
        """Fetch the exit's latest request and sign it if it is new; True if the exit's API answered."""
        read = SessionRead(subject=self.connection.session_id, reader=self.account.address, timestamp=int(time.time()))
        body = self.api.receipt_request(
            self.connection.session_id, read.header(sign(self.domain, read, self.account.key))
        )
        if body is not None:
            self.sign(self._parse(body))
        return True

    def _parse(self, body: object) -> ReceiptAsk:
        try:
            return ReceiptAsk.from_json(body, session_id=self.connection.session_id)
        except WireFormatError as exc:
            raise ExitAPIError(None, str(exc)) from exc

    def sign(self, ask: ReceiptAsk | dict) -> None:
        """Sign the exit's request if it is new, the operator's receipt key made it, and the bytes were seen here."""
        connection = self.connection
        ask = ask if isinstance(ask, ReceiptAsk) else self._parse(ask)
        if ask.receipt.seq <= connection.signed_seq:
            return
        seq, bytes_used = ask.receipt.seq, ask.receipt.bytes_used
        operator_signature = "0x" + ask.operator_signature.hex()
        try:
            signer = recover(self.domain, ask.receipt, ask.operator_signature)
        except ProtocolError as exc:
            raise ExitAPIError(None, f"malformed receipt request: {exc}") from exc
        if signer != connection.receipt_signer:
            connection.requests_refused += 1
            raise ExitAPIError(None, "a receipt request not signed by the exit's receipt key was ignored")
        earlier = self.operator_requests.setdefault(seq, (bytes_used, operator_signature))
        if earlier[0] != bytes_used:
            self._save_evidence(seq, earlier, (bytes_used, operator_signature))
        if self.meter.last is not None and self.meter.last.seq == seq:
            receipt = self.meter.last  # signed before, but the exit never acknowledged it: send it again
        else:
            try:
                receipt = self.meter.receipt_for(seq, bytes_used)
            except ProtocolError:
                connection.requests_refused += 1
                raise
        if receipt.bytes_used < bytes_used:
            log.info(
                "the exit asked for %d bytes for seq %d; signed for %d (what this side saw, plus the leeway and "
                "the loss allowance)",
                bytes_used,
                seq,
                receipt.bytes_used,
            )
        signed = SignedReceipt(receipt=receipt, signature=sign(self.domain, receipt, self.account.key))
        self.api.submit_receipt(connection.session_id, signed.to_json())
        connection.signed_seq, connection.signed_bytes = seq, receipt.bytes_used
        connection.receipts_signed += 1

    def _save_evidence(self, seq: int, first: tuple[int, str], second: tuple[int, str]) -> None:
        """Two operator-signed requests for one (session, seq): what `octravpn slash --evidence` takes."""
        path = self.evidence_dir / f"evidence-{self.connection.session_id}-{seq}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "operator": self.connection.exit,
                    "session_id": self.connection.session_id,
                    "seq": seq,
                    "bytes_a": first[0],
                    "sig_a": first[1],
                    "bytes_b": second[0],
                    "sig_b": second[1],
                },
                indent=1,
            )
        )
        log.error("the exit signed two different receipts for seq %d: evidence saved to %s", seq, path)
