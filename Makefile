# xlb build. Every target works on a fresh Debian 12 machine as root; the
# Dockerfile runs these same targets so CI proves the image's build steps.
SHELL := /bin/bash

DEB_PACKAGES := clang llvm libbpf-dev libelf-dev zlib1g-dev pkg-config bpftool nftables iptables conntrack iproute2 \
	iputils-ping ethtool curl socat wrk make g++ python3
# What the agent runs on besides node (the image's runtime stage): the addon's libraries
# (ldd native/build/Release/*.node), nftables, iptables and conntrack for the rule-based
# modes, iproute2.
RUNTIME_DEB_PACKAGES := libbpf1 libelf1 zlib1g nftables iptables conntrack iproute2

.PHONY: all deps node-deps runtime-deps bpf native build testbed runtime-tree test test-unit test-bpf test-integration demo bench clean

all: bpf native build

# Debian packages and node_modules, each installed only when missing or stale.
deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@$(MAKE) -s node-deps

# node_modules alone: all the unit tests need.
node-deps:
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

# The product's JavaScript, one file (see build).
LBCTL_BUNDLE := dist/lbctl.js

# What the agent runs, assembled into an empty DEST (the image's /opt/xlb) from what
# "make bpf native build" made (never rebuilt here): the npm package, whose "files" in
# package.json name the product (bin/lbctl, the bundle, the agent's BPF objects, the addon),
# with its production node_modules.
RUNTIME_BPF_OBJS := $(filter-out build/bpf/testing/%,$(BPF_OBJS))
RUNTIME_FILES := package.json package-lock.json bin/lbctl $(LBCTL_BUNDLE) $(RUNTIME_BPF_OBJS) $(NATIVE_ADDON)

runtime-tree:
	@[ -n "$(DEST)" ] || { echo "usage: make runtime-tree DEST=DIR" >&2; exit 2; }
	@for f in $(RUNTIME_FILES); do [ -e "$$f" ] || { echo "$$f is missing: run make bpf native build first" >&2; exit 1; }; done
	@mkdir -p "$(DEST)" && [ -z "$$(ls -A "$(DEST)")" ] || { echo "$(DEST) is not empty" >&2; exit 1; }
	set -o pipefail; npm pack --silent --pack-destination "$(DEST)" | while read -r tgz; do \
		tar -xzf "$(DEST)/$$tgz" -C "$(DEST)" --strip-components=1 && rm "$(DEST)/$$tgz"; done
	cp package-lock.json "$(DEST)"
	cd "$(DEST)" && npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund

# The product: src/ compiled into dist/, then bundled with its dependencies into the one
# file bin/lbctl runs, dist/lbctl.js. Node loads one module about 50 ms faster than the
# 150 it is made of, at every agent start. The CommonJS dependencies call require(),
# which an ES module makes with createRequire; client-node stays out (loaded only for a
# kubeconfig's credential plugins).
build: deps
	npx tsc -p tsconfig.json
	npx esbuild dist/cli/index.js --bundle --platform=node --format=esm --target=node20 --log-level=warning \
		--external:@kubernetes/client-node --outfile=$(LBCTL_BUNDLE) \
		--banner:js="import { createRequire as bundleRequire } from 'node:module'; const require = bundleRequire(import.meta.url);"

# The test bed and the benchmarks (test/testbed/, bench/ -> build/js/), for the
# processes tests, the demo and the benchmarks spawn.
testbed: deps
	npx tsc -p tsconfig.testbed.json

# The three test layers, each run alone by its target. Unit tests need no root and
# no BPF, but the addon (the Maglev tables are built in it); the BPF program tests
# need root, the objects and the addon; integration tests need root and all of it,
# test bed included.
test: deps bpf native build testbed
	npx tsc -p tsconfig.test.json
	npx vitest run

test-unit: deps native
	npx vitest run --project unit

test-bpf: deps bpf native
	npx vitest run --project bpf

test-integration: deps bpf native build testbed
	npx vitest run --project integration

demo: deps bpf native build testbed
	node build/js/test/testbed/demo.js

clean:
	rm -rf build dist native/build

# Benchmarks taken in one run (about 15 minutes): bench/results/<timestamp>.json, .md
# and .svg, and the README's results section. XLB_BENCH_QUICK=1 for a short run.
bench: deps bpf native build testbed build/bench/connect-latency
	node build/js/bench/run.js

# The east-west bench's connect timer, run in a pod (see the file).
build/bench/connect-latency: bench/connect-latency.c
	mkdir -p build/bench
	cc -O2 -Wall -Wextra -Werror -o $@ $<
