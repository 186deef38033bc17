# xlb agent image. Every RUN step is a Makefile target that CI runs too (no Docker engine
# runs in CI; test/integration/image.test.ts checks this file against the Makefile and
# assembles the runtime tree), so the image builds the way CI does. Needs BuildKit (the
# default builder since Docker 23) for RUN --mount.

# Build: compilers, libbpf headers and node-gyp make the BPF objects, the addon and dist/.
FROM node:24-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json Makefile Makefile.bpf Makefile.native tsconfig.json ./
COPY bpf ./bpf
COPY native ./native
COPY src ./src
COPY bin ./bin
RUN make deps bpf native build
RUN make runtime-tree DEST=/opt/xlb

# Runtime: node, the runtime tree and the Debian packages the agent runs; no compiler,
# no test code.
FROM node:24-bookworm-slim
WORKDIR /opt/xlb
# The slim image has no make: the build stage's make and the build context's Makefiles
# are bind-mounted for this one step, so neither stays in the image.
RUN --mount=type=bind,from=build,source=/usr/bin/make,target=/usr/local/bin/make \
    --mount=type=bind,source=.,target=/opt/xlb \
    make runtime-deps
COPY --from=build /opt/xlb ./

# Runs privileged, in the host's network and PID namespaces, with the host's bpffs and
# cgroup2 mounted (see deploy/xlb.yaml, which passes the agent's arguments).
ENTRYPOINT ["/opt/xlb/bin/lbctl"]
CMD ["--help"]
