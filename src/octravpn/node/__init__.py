"""The exit-node agent's parts: its durable state, and (to come) the agent itself."""
