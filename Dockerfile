# syntax=docker/dockerfile:1
# tcpstates and tcplife in a container, from the official Node image.
# Build:  docker build -t tcpstates .
# Run (see docs/deploy.md): only CAP_BPF and CAP_PERFMON,
# locked memory for the perf rings (no CAP_IPC_LOCK), the host's cgroup
# namespace (for the `cgroup` paths), a read-only root:
#   docker run -d --name tcpstates --cap-drop ALL --cap-add BPF --cap-add PERFMON \
#     --ulimit memlock=-1 --cgroupns host --read-only --security-opt no-new-privileges \
#     -p 9100:9100 tcpstates
#   (tcplife: --entrypoint /opt/tcpstates/bin/tcplife ... tcpstates --metrics 0.0.0.0:9101)

# Build stage: the BPF object (clang, bpftool for vmlinux.h from the build
# host's BTF; CO-RE relocates it on any BTF-enabled kernel) and the TypeScript.
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends clang llvm libbpf-dev bpftool make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.json Makefile ./
RUN npm ci --no-audit --no-fund
COPY bpf ./bpf
COPY src ./src
COPY bin ./bin
RUN make bpf && npx tsc -p tsconfig.json

# Run stage: Node, libbpf.so.1 and the runtime dependencies only; no compiler.
FROM node:20-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libbpf1 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/tcpstates
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/bpf/tcpstates.bpf.o ./dist/bpf/tcpstates.bpf.o
COPY bin ./bin
ENV NO_COLOR=1
EXPOSE 9100
ENTRYPOINT ["/opt/tcpstates/bin/tcpstates"]
CMD ["--metrics", "0.0.0.0:9100"]
