# xlb build. Every target works on a fresh Debian 12 machine as root; the
# Dockerfile runs these same targets so CI proves the image's build steps.
SHELL := /bin/bash

DEB_PACKAGES := clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool iptables conntrack iproute2 \
	iputils-ping ethtool curl socat wrk make g++ python3

.PHONY: all deps bpf native build test demo bench clean

all: bpf native build

# Debian packages and node_modules, each installed only when missing or stale.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@[ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund

include Makefile.bpf
include Makefile.native

build: deps
	npx tsc -p tsconfig.json

test: deps bpf native build
	npx tsc -p tsconfig.test.json
	npx vitest run

demo: deps bpf native build
	node dist/testbed/demo.js

clean:
	rm -rf build dist native/build

# Benchmarks taken in one run (about 15 minutes): bench/results/<timestamp>.json, .md
# and .svg, and the README's results section. XLB_BENCH_QUICK=1 for a short run.
bench: deps bpf native build
	node dist/bench/run.js
