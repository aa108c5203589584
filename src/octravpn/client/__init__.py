"""The device side of a paid exit, as steps the daemon (`octravpn.daemon`) composes: `connect` (find the exit,
open a session, join), `tunnel` (interface, routes, kill switch, DNS), `receipts` (sign what was seen),
`health` and `probe` (is the exit still there), `settlement` (how a left session ends), `state` (what is saved)."""
