# OctraVPN: `make demo` and `make test` work from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
TOOLS := .tools
ANVIL := $(TOOLS)/node_modules/.bin/anvil
ANVIL_VERSION := 1.7.1
STAMPS := .stamps
ARTIFACT := src/octravpn/chain/artifacts/OctraVPN.json
CONTRACTS := $(shell find contracts -name '*.vy')
# CI runs the stateful fuzzer longer; locally it stays quick.
FUZZ_PROFILE := $(if $(CI),ci,dev)

# Debian packages the end-to-end tests need (WireGuard in userspace: no kernel module here).
SYSTEM_TOOLS := wg wireguard-go ip ping nft systemd-analyze
SYSTEM_PACKAGES := wireguard-tools wireguard-go iproute2 iputils-ping nftables systemd

.PHONY: help deps tools system-deps postgres demo test test-fast lint test-contract bench bench-daemon bench-connect bench-mesh bench-indexer gas artifacts lock clean

help:
	@echo "make demo   - the whole story on a local devnet: an exit and a client in namespaces, a page through the tunnel"
	@echo "make test   - install everything needed and run the whole test suite"
	@echo "make test-fast - the tests that need neither root, a chain nor PostgreSQL (under 2 minutes)"
	@echo "make bench  - tunnel throughput vs plain WireGuard, connect time, agent CPU and memory"
	@echo "make bench-daemon - status wall time, up to the first byte, exit failover time"
	@echo "make bench-connect - up on 2 s and 12 s blocks, new and rejoined sessions; a day of connects, its gas"
	@echo "make bench-mesh - mesh throughput vs WireGuard by hand, join, revoke and policy times"
	@echo "make bench-indexer - indexer ingest rate and discovery API latency"
	@echo "make gas    - print the gas table and the bytecode size"

$(STAMPS)/venv: pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@mkdir -p $(STAMPS) && touch $@

$(ANVIL):
	@command -v npm >/dev/null || { echo "error: npm not found; install node and npm" >&2; exit 1; }
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-audit --no-fund --no-save @foundry-rs/anvil@$(ANVIL_VERSION)
	@$(ANVIL) --version | head -1

deps: $(STAMPS)/venv
tools: $(ANVIL)

system-deps:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  [ "$$(id -u)" = 0 ] || { echo "error: installing $(SYSTEM_PACKAGES) needs root (apt-get)" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

# The indexer's tests start a throwaway PostgreSQL cluster from Debian's server binaries.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql (the indexer's tests run it in a temporary directory)"; \
	  [ "$$(id -u)" = 0 ] || { echo "error: installing postgresql needs root (apt-get)" >&2; exit 1; }; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; }

# The compiled contract is committed; this rebuilds it after a change to contracts/.
artifacts: $(ARTIFACT)
$(ARTIFACT): $(CONTRACTS) $(STAMPS)/venv src/octravpn/chain/build.py
	$(PY) -m octravpn.chain.build

demo: deps tools system-deps
	OCTRAVPN_ANVIL=$(ANVIL) $(PY) -m octravpn.demo

# ruff and mypy: the lint rules, the format and the type checker's settings are in pyproject.toml;
# `make test` fails on any of them.
lint: deps
	$(PY) -m ruff check src tests bench
	$(PY) -m ruff format --check src tests bench
	$(PY) -m mypy

test: deps tools system-deps postgres lint
	OCTRAVPN_ANVIL=$(ANVIL) OCTRAVPN_FUZZ_PROFILE=$(FUZZ_PROFILE) $(PY) -m pytest -n 2 --dist loadfile -p no:cacheprovider

# Everything that needs Python alone: no root (e2e), no anvil, no PostgreSQL.
test-fast: deps
	$(PY) -m pytest -n 2 --dist loadfile -p no:cacheprovider -m "not e2e and not anvil and not postgres"

test-contract: deps
	OCTRAVPN_FUZZ_PROFILE=$(FUZZ_PROFILE) $(PY) -m pytest -n 2 --dist loadfile tests/contract

# Tunnel throughput (iperf3), connect time, agents' CPU and memory; needs root.
bench: deps tools system-deps
	@command -v iperf3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3; }
	OCTRAVPN_ANVIL=$(ANVIL) $(PY) bench/tunnel.py

# The device daemon: `status` wall time (also with the chain stalled), `up` to the first byte, exit failover (~4 min).
bench-daemon: deps tools system-deps
	OCTRAVPN_ANVIL=$(ANVIL) $(PY) bench/daemon.py

# Connecting on a chain with a block time (2 s, 12 s): up to the first byte, a simulated day's transactions (~10 min).
bench-connect: deps tools system-deps
	OCTRAVPN_ANVIL=$(ANVIL) $(PY) bench/connect.py

# The mesh, live: throughput vs WireGuard by hand, device add -> first ping, revoke and policy take effect (~4 min).
bench-mesh: deps tools system-deps
	@command -v iperf3 >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iperf3; }
	OCTRAVPN_ANVIL=$(ANVIL) $(PY) bench/mesh_live.py

# Indexer: events/s ingested from a generated 50,000-event history, /v1/exits p50/p99 at 10,000 exits (~4 min).
bench-indexer: deps tools
	OCTRAVPN_ANVIL=$(ANVIL) $(PY) bench/indexer.py

gas: deps
	$(PY) bench/gas.py

lock: deps
	{ echo "# Full pin of every Python package the project and its tests use (pip freeze)."; \
	  echo "# Regenerate with: make lock"; \
	  $(PY) -m pip freeze --exclude-editable | grep -vi '^octravpn'; } > requirements.lock

clean:
	rm -rf $(VENV) $(TOOLS) $(STAMPS) build dist src/*.egg-info
