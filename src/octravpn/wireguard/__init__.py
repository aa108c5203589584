"""WireGuard: keys (and, with the agents, configuration and the engine)."""
