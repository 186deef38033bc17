# xlb agent image. The build steps are the Makefile's own targets, which CI runs
# on every change (no Docker engine runs in CI), so the image builds the way CI does.
FROM node:24-bookworm

WORKDIR /opt/xlb
COPY package.json package-lock.json Makefile Makefile.bpf Makefile.native tsconfig.json ./
COPY bpf ./bpf
COPY native ./native
COPY src ./src
COPY bin ./bin
RUN make deps bpf native build && npm prune --omit=dev

# Runs privileged, in the host network namespace, with /sys/fs/bpf mounted (see deploy/).
ENTRYPOINT ["/opt/xlb/bin/lbctl"]
CMD ["agent", "--devices", "eth0"]
