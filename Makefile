# xlb build. Every target works on a fresh Debian 12 machine as root; the
# Dockerfile runs these same targets so CI proves the image's build steps.
SHELL := /bin/bash

DEB_PACKAGES := clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool iptables conntrack iproute2 \
	iputils-ping ethtool curl socat wrk make g++ python3 openssl
# What the agent runs on besides node (the image's runtime stage): the addon's libraries
# (ldd native/build/Release/*.node), iptables and conntrack for the fallback, iproute2.
RUNTIME_DEB_PACKAGES := libbpf1 libelf1 zlib1g iptables conntrack iproute2

.PHONY: all deps runtime-deps bpf native build runtime-tree test demo bench clean

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

# The runtime Debian packages only, for the image's runtime stage; the package lists go
# afterwards, as they would only weigh on the image.
runtime-deps:
	@missing=$$(for p in $(RUNTIME_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing && \
		apt-get clean && rm -rf /var/lib/apt/lists/*; \
	fi

include Makefile.bpf
include Makefile.native

# What the agent runs, assembled into an empty DEST (the image's /opt/xlb) from what
# "make bpf native build" made (never rebuilt here): dist/ without the test bed and the
# benchmarks, the BPF objects but the benchmark's and the tests', the addon, production
# node_modules.
RUNTIME_BPF_OBJS := $(filter-out build/bpf/bench.bpf.o build/bpf/testing/%,$(BPF_OBJS))
RUNTIME_FILES := package.json package-lock.json bin/lbctl dist/cli/index.js $(RUNTIME_BPF_OBJS) $(NATIVE_ADDON)

runtime-tree:
	@[ -n "$(DEST)" ] || { echo "usage: make runtime-tree DEST=DIR" >&2; exit 2; }
	@for f in $(RUNTIME_FILES); do [ -e "$$f" ] || { echo "$$f is missing: run make bpf native build first" >&2; exit 1; }; done
	@mkdir -p "$(DEST)" && [ -z "$$(ls -A "$(DEST)")" ] || { echo "$(DEST) is not empty" >&2; exit 1; }
	cp --parents package.json package-lock.json bin/lbctl $(RUNTIME_BPF_OBJS) $(NATIVE_ADDON) "$(DEST)"
	set -o pipefail; mkdir -p "$(DEST)/dist" && tar -C dist --exclude=./testbed --exclude=./bench --exclude='*.map' -cf - . | tar -C "$(DEST)/dist" -xf -
	cd "$(DEST)" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund

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
