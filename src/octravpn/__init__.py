"""OctraVPN: a decentralized private mesh VPN ("Tailscale on chain")."""

__version__ = "0.1.0"
