"""HTTP client of an exit's handshake API (`octravpn.node.api`); the bodies are `octravpn.protocol.exitwire`'s."""

from __future__ import annotations

import httpx

from octravpn.errors import ServiceError
from octravpn.httpbody import read_bounded
from octravpn.protocol import exitwire
from octravpn.protocol.errors import RemoteProtocolError
from octravpn.protocol.wirejson import error_reason, loads_object

MAX_ANSWER_BYTES = 64 * 1024  # an exit's answers are a few hundred bytes


class ExitAPIError(ServiceError):
    """The exit refused a request (status 4xx/5xx, with its reason) or did not answer (status None)."""

    def __init__(self, status: int | None, reason: str) -> None:
        super().__init__(f"the exit refused ({status}): {reason}" if status else f"the exit did not answer: {reason}")
        self.status = status
        self.reason = reason


class ExitAPI:
    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=timeout)

    def close_connection(self) -> None:
        self.http.close()

    def __enter__(self) -> ExitAPI:
        return self

    def __exit__(self, *_: object) -> None:  # a one-off call leaves no pooled connection behind
        self.close_connection()

    def _call(self, method: str, path: str, body: dict | None = None, *, headers: dict | None = None) -> dict | None:
        try:
            with self.http.stream(method, path, json=body, headers=headers) as response:
                status, content = response.status_code, read_bounded(response, MAX_ANSWER_BYTES)
        except httpx.HTTPError as exc:
            raise ExitAPIError(None, f"{self.base_url}{path}: {exc}") from exc
        except ValueError as exc:
            raise RemoteProtocolError(f"the exit answered {path}: {exc}") from None
        if status == 204:
            return None
        if status >= 400:
            raise ExitAPIError(status, error_reason(content))
        try:
            return loads_object(content)
        except ValueError as exc:  # what exitwire does with a malformed body: the exit broke the protocol
            raise RemoteProtocolError(f"the exit answered {path} with something that is not its JSON: {exc}") from None

    def _answer(self, method: str, path: str, body: dict | None = None) -> dict:
        """A call whose answer is an object: an exit answering it with nothing broke the protocol."""
        answer = self._call(method, path, body)
        if answer is None:
            raise RemoteProtocolError(f"the exit answered {path} with nothing where its answer belongs")
        return answer

    def info(self) -> dict:
        return self._answer("GET", exitwire.INFO)

    def add_peer(self, body: dict) -> dict:
        return self._answer("POST", exitwire.PEERS, body)

    def add_opening_peer(self, body: dict) -> dict:
        """A join for a session whose open transaction (in the body) is not mined yet."""
        return self._answer("POST", exitwire.OPENING, body)

    def receipt_request(self, session_id: int, authorization: str) -> dict | None:
        """`authorization`: a signed `exitwire.SessionRead` header (the request is for the session's signers)."""
        return self._call("GET", exitwire.receipt_request_path(session_id), headers={"Authorization": authorization})

    def submit_receipt(self, session_id: int, body: dict) -> dict:
        return self._answer("POST", exitwire.receipts_path(session_id), body)

    def leave(self, session_id: int, body: dict, *, park: bool = False) -> dict:
        """End the session at the exit (`close`), or only disconnect and leave it open (`park`)."""
        path = exitwire.park_path(session_id) if park else exitwire.close_path(session_id)
        return self._answer("POST", path, body)
