"""Talking to the chain: the compiled contract, deployment, and a local devnet."""
