"""Metering and receipts, for both ends of a session. Pure state machines:
counter readings and receipts in, decisions out.

Both ends count the tunnel's bytes in both directions (WireGuard's rx + tx for
the other end). The exit asks for a receipt every `receipt_every` bytes, for
no more than it measured and the deposit covers; it cuts the client when the
bytes not yet covered by a signed receipt exceed `max_unsigned`, or when the
deposit is used up. The client signs for no more than it saw itself, plus
`leeway` for packets in flight and `loss_percent` of what it saw for datagrams
the exit counted but that never arrived (the exit counts what it sends, the
client what it receives); asked for more, it signs that much (a receipt may
cover less than the request). The exit, in turn, leaves `max_loss_percent` of
what it measured out of its lag judgement: together the two bound who pays for
datagrams lost on the way, and an honest client is not cut for them. At the
end the exit settles with the latest signed receipt, or claims what it
measured: never more.

A lag in signing is judged only when the exit itself was able to take
receipts: the exit's owner passes `judge_lag=False` while it cannot (its
chain is unreachable, it has just restarted) and until clients have had time
to catch up.

A claim is what the exit's WireGuard counted in both directions. It can be
above what the client's interface received (UDP datagrams lost on the way
after the exit counted them), so `confirmation_figure` lets an opener accept
a claim within a tolerance it chooses.
"""

from __future__ import annotations

from dataclasses import dataclass

from octravpn.protocol.eip712 import Receipt
from octravpn.protocol.errors import LocalProtocolError, RemoteProtocolError

BYTES_PER_MB = 1_000_000


def affordable_bytes(deposit: int, price_per_mb: int) -> int:
    """The most bytes whose pay (bytes * price // 1e6) the deposit covers."""
    return ((deposit + 1) * BYTES_PER_MB - 1) // price_per_mb


# ------------------------------------------------------------- exit side


@dataclass(frozen=True)
class RequestReceipt:
    seq: int
    bytes_used: int


@dataclass(frozen=True)
class Cut:
    reason: str


@dataclass(frozen=True)
class SettleWithReceipt:
    receipt: Receipt
    signature: bytes


@dataclass(frozen=True)
class Claim:
    bytes_used: int


class ExitMeter:
    def __init__(
        self,
        *,
        session_id: int,
        price_per_mb: int,
        deposit: int,
        receipt_every: int,
        max_unsigned: int,
        max_loss_percent: float = 0.0,
    ) -> None:
        if price_per_mb <= 0 or deposit <= 0 or receipt_every <= 0 or max_unsigned < receipt_every:
            raise LocalProtocolError(
                "meter needs a positive price, deposit and interval, and max_unsigned >= receipt_every"
            )
        if not 0 <= max_loss_percent < 100:
            raise LocalProtocolError("max_loss_percent is a percentage from 0 to below 100")
        self.session_id = session_id
        self.limit = affordable_bytes(deposit, price_per_mb)
        self.receipt_every = receipt_every
        self.max_unsigned = max_unsigned
        self.max_loss_percent = max_loss_percent
        self.measured = 0
        self.seq = 0
        self.requested = 0
        self.signed: tuple[Receipt, bytes] | None = None
        self.cut: Cut | None = None

    def restore(
        self, *, measured: int, latest: tuple[Receipt, bytes] | None, issued: RequestReceipt | None = None
    ) -> None:
        """Resume from saved state: the bytes measured so far, the latest signed receipt and the
        newest request ever issued. Numbering continues after the issued request, so a request the
        client fetched but never signed is never reissued under its seq with other bytes."""
        if latest is not None:
            receipt, _ = latest
            if receipt.session_id != self.session_id or receipt.bytes_used > measured:
                raise LocalProtocolError("saved receipt does not belong to this session's saved usage")
            self.seq, self.requested, self.signed = receipt.seq, receipt.bytes_used, latest
        if issued is not None:
            if issued.seq < self.seq or issued.bytes_used < self.requested or issued.bytes_used > measured:
                raise LocalProtocolError("saved receipt request does not fit this session's saved receipts and usage")
            self.seq, self.requested = issued.seq, issued.bytes_used
        self.measured = measured

    @property
    def signed_bytes(self) -> int:
        return self.signed[0].bytes_used if self.signed else 0

    def observe(self, measured_total: int, *, judge_lag: bool = True) -> list[RequestReceipt | Cut]:
        """A new cumulative counter reading; returns what to do now. With `judge_lag` false the
        client is not cut for unsigned bytes (the exit could not take its receipts)."""
        if measured_total < self.measured:
            raise LocalProtocolError("counters went backwards: carry the total across interface restarts")
        self.measured = measured_total
        if self.cut:
            return []
        actions: list[RequestReceipt | Cut] = []
        billable = min(self.measured, self.limit)
        if billable - self.requested >= self.receipt_every or (
            self.measured >= self.limit and billable > self.requested
        ):
            self.seq += 1
            self.requested = billable
            actions.append(RequestReceipt(self.seq, billable))
        if self.measured >= self.limit:
            self.cut = Cut("deposit used up")
        elif judge_lag and self.measured - self.signed_bytes > self.max_unsigned + self._loss_allowance:
            self.cut = Cut("client lags in signing receipts")
        if self.cut:
            actions.append(self.cut)
        return actions

    def pause(self) -> list[RequestReceipt]:
        """The client left the session open: a request for the bytes not yet asked for, and serving goes on
        when it joins again."""
        if self.cut:
            return []
        billable = min(self.measured, self.limit)
        if billable <= self.requested:
            return []
        self.seq += 1
        self.requested = billable
        return [RequestReceipt(self.seq, billable)]

    def end(self, reason: str) -> list[RequestReceipt | Cut]:
        """Stop serving (the client left, the session is idle or near its grace):
        a last request for the bytes not yet asked for, then the cut."""
        if self.cut:
            return []
        actions: list[RequestReceipt | Cut] = [*self.pause()]
        self.cut = Cut(reason)
        return [*actions, self.cut]

    @property
    def _loss_allowance(self) -> int:
        return int(self.measured * self.max_loss_percent) // 100

    @property
    def fully_signed(self) -> bool:
        """The client answered the last request (with a receipt for what it asked, or for less)."""
        return (self.signed[0].seq if self.signed else 0) >= self.seq

    def receipt(self, receipt: Receipt, signature: bytes) -> None:
        """A receipt whose signature the caller verified as the opener's (or its device's)."""
        if receipt.session_id != self.session_id:
            raise RemoteProtocolError(f"receipt is for session {receipt.session_id}, not {self.session_id}")
        if self.signed and (receipt.seq <= self.signed[0].seq or receipt.bytes_used < self.signed_bytes):
            raise RemoteProtocolError("receipt is older than one already held")
        if receipt.bytes_used > self.requested:
            raise RemoteProtocolError("receipt covers more bytes than the exit asked for")
        self.signed = (receipt, signature)

    def settlement(self) -> SettleWithReceipt | Claim | None:
        """How to settle: the latest signed receipt, else a claim of what was measured."""
        if self.signed:
            return SettleWithReceipt(*self.signed)
        billable = min(self.measured, self.limit)
        return Claim(billable) if billable else None


class ActivityWatch:
    """Idle detection from byte counters, not handshakes: an orphaned WireGuard client keeps
    handshaking and sending keepalives for ever (a few hundred bytes a minute), so a session is
    active only while it carries more than `noise_per_second` on average. It is idle once
    `timeout` seconds pass in which it carried less than `timeout * noise_per_second` bytes."""

    def __init__(self, *, timeout: float, noise_per_second: float) -> None:
        self.threshold = timeout * noise_per_second
        self.timeout = timeout
        self.marks: dict[int, tuple[float, int]] = {}  # session -> (when it was last active, bytes then)

    def idle(self, session_id: int, measured: int, now: float) -> bool:
        since, at = self.marks.setdefault(session_id, (now, measured))
        if measured - at >= self.threshold:
            self.marks[session_id] = (now, measured)
            return False
        return now - since > self.timeout

    def forget(self, session_id: int) -> None:
        self.marks.pop(session_id, None)


def confirmation_figure(*, claimed: int, own: int, tolerance_percent: float) -> int:
    """What an opener confirms for an exit's claim: the claim itself when it is at most
    `tolerance_percent` above the opener's own figure (settling the session), else its own figure
    (which records a dispute). A claim below the opener's figure is always accepted."""
    if tolerance_percent < 0:
        raise LocalProtocolError("the tolerance is a percentage >= 0")
    if claimed <= own or (claimed - own) * 100 <= own * tolerance_percent:
        return claimed
    return own


# ----------------------------------------------------------- client side


class ClientMeter:
    def __init__(self, *, session_id: int, leeway: int, loss_percent: float = 0.0) -> None:
        if leeway < 0 or loss_percent < 0:
            raise LocalProtocolError("leeway and loss_percent must be >= 0")
        self.session_id = session_id
        self.leeway = leeway
        self.loss_percent = loss_percent
        self.measured = 0
        self.last: Receipt | None = None

    def restore(self, *, measured: int, last: Receipt | None) -> None:
        """Resume a session from saved state: the bytes seen so far and the last receipt signed."""
        if last is not None and (last.session_id != self.session_id or last.bytes_used > self._signable(measured)):
            raise LocalProtocolError("saved receipt does not belong to this session's saved usage")
        self.measured, self.last = measured, last

    def observe(self, measured_total: int) -> None:
        if measured_total < self.measured:
            raise LocalProtocolError("counters went backwards: carry the total across interface restarts")
        self.measured = measured_total

    def _signable(self, measured: int) -> int:
        """The most bytes this side signs for having seen `measured`."""
        return measured + self.leeway + int(measured * self.loss_percent) // 100

    def receipt_for(self, seq: int, bytes_used: int) -> Receipt:
        """The receipt to sign for an exit's request (for fewer bytes, if it asks for more than this side
        signs for), or a refusal saying why."""
        if self.last and seq <= self.last.seq:
            raise RemoteProtocolError(f"receipt seq {seq} is not after {self.last.seq}")
        if self.last and bytes_used < self.last.bytes_used:
            raise RemoteProtocolError("receipts are cumulative: the exit asked for fewer bytes than already signed")
        self.last = Receipt(
            session_id=self.session_id, seq=seq, bytes_used=min(bytes_used, self._signable(self.measured))
        )
        return self.last
