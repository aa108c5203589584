"""The command line's client of octravpnd's local API: HTTP/1.1 and JSON over a Unix socket.

Standard library only, so `octravpn status` starts in the time Python takes to
start (no HTTP library, no web3). Errors are the daemon's own: its answer
carries a message and the exit code the command line returns.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from pathlib import Path

from octravpn.errors import ServiceError

START_HINT = "start it with `sudo octravpn daemon run` (or `sudo systemctl start octravpnd`)"


class DaemonUnavailable(ServiceError):
    """No daemon answers at the socket (not running, no permission, or it hung)."""

    exit_code = 8


class DaemonRefused(ServiceError):
    """The daemon answered with an error: its message, and the exit code it says the command should return."""

    def __init__(
        self, status: int, message: str, *, exit_code: int, code: str | None = None, detail: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.exit_code, self.code, self.detail = status, exit_code, code, detail or {}


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("octravpnd", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(str(self.path))
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class LocalAPI:
    def __init__(self, socket_path: Path, *, timeout: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def _open(self, method: str, path: str, body: dict | None, timeout: float | None) -> http.client.HTTPResponse:
        connection = _UnixConnection(self.socket_path, self.timeout if timeout is None else timeout)
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            connection.request(method, path, body=payload, headers=headers)
            return connection.getresponse()
        except FileNotFoundError:
            raise DaemonUnavailable(
                f"octravpnd is not running (no socket at {self.socket_path}): {START_HINT}"
            ) from None
        except ConnectionRefusedError:
            raise DaemonUnavailable(
                f"octravpnd is not running (nothing listens on {self.socket_path}): {START_HINT}"
            ) from None
        except PermissionError:
            raise DaemonUnavailable(
                f"permission denied on {self.socket_path}: controlling octravpnd takes root or its "
                "group (`octravpn daemon run --group`); `octravpn status` works for everyone"
            ) from None
        except TimeoutError:
            raise DaemonUnavailable(
                f"octravpnd did not answer {method} {path} within {connection.timeout:.0f}s "
                f"(socket {self.socket_path}): see its log"
            ) from None
        except (OSError, http.client.HTTPException) as exc:
            raise DaemonUnavailable(
                f"octravpnd at {self.socket_path} failed to answer {method} {path}: {exc}"
            ) from None

    def call(self, method: str, path: str, body: dict | None = None, *, timeout: float | None = None) -> dict:
        response = self._open(method, path, body, timeout)
        try:
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise DaemonUnavailable(f"octravpnd at {self.socket_path} broke off its answer to {path}: {exc}") from None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            raise DaemonUnavailable(
                f"{self.socket_path} answered {path} with something other than JSON: is that octravpnd?"
            ) from None
        if response.status >= 400:
            error = data.get("error") if isinstance(data, dict) else None
            raise DaemonRefused(
                response.status,
                str(error or f"HTTP {response.status}"),
                exit_code=int(data.get("exit_code", 1)) if isinstance(data, dict) else 1,
                code=data.get("code") if isinstance(data, dict) else None,
                detail=data.get("detail") if isinstance(data, dict) else None,
            )
        return data

    def get(self, path: str, *, timeout: float | None = None) -> dict:
        return self.call("GET", path, timeout=timeout)

    def post(self, path: str, body: dict | None = None, *, timeout: float | None = None) -> dict:
        return self.call("POST", path, body or {}, timeout=timeout)

    def lines(self, path: str, *, timeout: float | None = None) -> Iterator[dict]:
        """A stream of JSON lines (the daemon's change feed), until the daemon ends it or the caller stops."""
        response = self._open("GET", path, None, timeout)
        if response.status >= 400:
            raise DaemonRefused(response.status, response.read().decode(errors="replace")[:200], exit_code=1)
        while True:
            try:
                line = response.readline()
            except TimeoutError:
                raise DaemonUnavailable(f"no event from octravpnd for {timeout:.0f}s") from None
            if not line:
                return
            yield json.loads(line)
