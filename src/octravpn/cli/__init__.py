"""The `octravpn` command line: one module per command group."""
