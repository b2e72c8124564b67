# syntax=docker/dockerfile:1
# tcpstates and tcplife in a container, from the official Node image (Node
# 22, an LTS release). Build:  docker build -t tcpstates .
# Run (docs/deploy.md, "A container"): CAP_BPF and CAP_PERFMON to load and
# read the program, CAP_SYS_NICE for the reader's priority, locked memory
# for the perf rings (no CAP_IPC_LOCK), the host's cgroup namespace (for
# the `cgroup` paths and container ids), a read-only root:
#   docker run -d --name tcpstates --cap-drop ALL --cap-add BPF --cap-add PERFMON --cap-add SYS_NICE \
#     --ulimit memlock=-1 --cgroupns host --read-only --security-opt no-new-privileges \
#     -p 127.0.0.1:19440:19440 tcpstates
#   (tcplife: --entrypoint /opt/tcpstates/bin/tcplife ... tcpstates --metrics 0.0.0.0:19441)

# Build stage: the BPF objects (clang, bpftool for vmlinux.h from the build
# host's BTF; CO-RE relocates them on any BTF-enabled kernel), the
# TypeScript, and the start-up bundle with V8's code cache, made by this
# image's own Node so that the cache fits the Node that runs it.
FROM node:22-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.json Makefile ./
RUN npm ci --no-audit --no-fund
COPY bpf ./bpf
COPY src ./src
COPY bin ./bin
COPY scripts/bundle.mjs ./scripts/bundle.mjs
RUN make bpf && npx tsc -p tsconfig.json && node scripts/bundle.mjs

# Run stage: Node, libbpf.so.1 and the runtime dependencies only; no compiler.
FROM node:22-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tcpstates
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/bpf/tcpstates.bpf.o ./dist/bpf/tcpstates.bpf.o
COPY --from=build /src/dist/bpf/probe.bpf.o ./dist/bpf/probe.bpf.o
COPY bin ./bin
ENV NO_COLOR=1
EXPOSE 19440 19441
ENTRYPOINT ["/opt/tcpstates/bin/tcpstates"]
CMD ["--metrics", "0.0.0.0:19440"]
