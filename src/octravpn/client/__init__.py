"""The client agent: open a session, join the exit, route through it, sign receipts, leave."""
