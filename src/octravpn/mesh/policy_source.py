"""Where a tailnet's policy document comes from: indexers, which are untrusted mailboxes.

The chain holds the keccak-256 of the policy in force; any indexer may hold the document. A document is
used only if its hash is the chain's, so an indexer can withhold or delay a policy but never change it.
Several indexers can be asked; the first good answer wins, and when none has it, the error says what
each one answered.
"""

from __future__ import annotations

import httpx
from eth_hash.auto import keccak

from octravpn.chain.errors import ChainError
from octravpn.httpbody import read_bounded
from octravpn.protocol.wirejson import error_reason

MAX_POLICY_BYTES = 64 * 1024  # what an indexer accepts (its PUT limit); anything larger is not a policy it kept


class PolicyUnavailable(ChainError):
    """No indexer asked has the policy document whose hash is on chain."""


def fetch_policy(indexers: list[str], tailnet_id: int, expected_hash: bytes, *, timeout: float = 10.0) -> bytes:
    """The document of tailnet `tailnet_id` whose keccak-256 is `expected_hash`, from the first indexer that has
    it; `PolicyUnavailable` naming what each indexer answered otherwise."""
    answers = []
    for url in indexers:
        base = url.rstrip("/")
        try:
            with (
                httpx.Client(timeout=timeout) as http,
                http.stream("GET", f"{base}/v1/tailnets/{tailnet_id}/acl") as got,
            ):
                status, document = got.status_code, read_bounded(got, MAX_POLICY_BYTES)
        except httpx.HTTPError as exc:
            answers.append(f"{base}: unreachable ({type(exc).__name__})")
            continue
        except ValueError as exc:  # too large: not a policy it kept
            answers.append(f"{base}: {exc}")
            continue
        if status == 404:
            answers.append(f"{base}: does not have it")
        elif status != 200:
            answers.append(f"{base}: HTTP {status}")
        elif keccak(document) != expected_hash:
            answers.append(f"{base}: sent a document whose hash is not the chain's (stale or forged)")
        else:
            return document
    raise PolicyUnavailable(
        f"no indexer has tailnet {tailnet_id}'s policy 0x{expected_hash.hex()}: "
        + "; ".join(answers or ["none asked"])
        + f". The tailnet's owner can upload it with `octravpn acl publish {tailnet_id} FILE`"
    )


def publish_policy(indexers: list[str], tailnet_id: int, document: bytes, *, timeout: float = 10.0) -> dict[str, str]:
    """Upload the document to each indexer; what each answered ("stored", or why not)."""
    results = {}
    for url in indexers:
        base = url.rstrip("/")
        try:
            with httpx.Client(timeout=timeout) as http:
                response = http.put(
                    f"{base}/v1/tailnets/{tailnet_id}/acl",
                    content=document,
                    headers={"content-type": "application/octet-stream"},
                )
        except httpx.HTTPError as exc:
            results[base] = f"unreachable ({type(exc).__name__})"
            continue
        if response.status_code == 200:
            results[base] = "stored"
        else:
            results[base] = f"refused (HTTP {response.status_code}): {error_reason(response.content)}"
    return results
