"""Hostile requests against an exit's API, sent from inside a lab host (argv: base URL).
Prints one JSON object: what each attack got back (a status code, or the error)."""

import json
import sys

import httpx

JSON = {"content-type": "application/json"}
ATTACKS = {
    "nested 200 KB": dict(method="POST", path="/v1/peers", content=b"[" * 200_000, headers=JSON),
    "nested 8 KB": dict(method="POST", path="/v1/peers", content=b"[" * 8_000, headers=JSON),
    "10 MB body": dict(method="POST", path="/v1/peers", content=b" " * 10_000_000, headers=JSON),
    "not JSON typed": dict(method="POST", path="/v1/peers", content=b"{}", headers={"content-type": "text/plain"}),
    "broken JSON": dict(method="POST", path="/v1/peers", content=b'{"session_id": ', headers=JSON),
    "forged request": dict(
        method="POST",
        path="/v1/peers",
        headers=JSON,
        content=json.dumps(
            {"session_id": 0, "wg_pubkey": "A" * 43 + "=", "timestamp": 1, "signature": "0x" + "11" * 65}
        ).encode(),
    ),
    "session 2^70 close": dict(
        method="POST",
        path=f"/v1/sessions/{2**70}/close",
        headers=JSON,
        content=json.dumps({"timestamp": 1, "signature": "0x" + "11" * 65}).encode(),
    ),
    "session 2^256": dict(method="GET", path=f"/v1/sessions/{2**256}/receipt-request"),
    "negative session": dict(method="GET", path="/v1/sessions/-1/receipt-request"),
    "unknown path": dict(method="GET", path="/v1/../../etc/passwd"),
}


def main() -> None:
    base = sys.argv[1]
    results = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for name, attack in ATTACKS.items():
            try:
                results[name] = client.request(
                    attack["method"], attack["path"], content=attack.get("content"), headers=attack.get("headers")
                ).status_code
            except httpx.HTTPError as exc:
                results[name] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(results))


if __name__ == "__main__":
    main()
