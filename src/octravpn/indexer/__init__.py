"""The indexer: contract events -> SQL tables, and the discovery API over them."""
