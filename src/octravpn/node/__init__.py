"""The exit-node agent (`octravpn node run`): handshake API, metering, receipts, settlement, egress, durable state."""
