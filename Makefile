# The one build graph for every C artefact; everything lands in dist/, at the
# path of its source (X/y.c -> dist/X/y). npm run build, the tests and the
# bench call these targets; nothing else runs a C compiler.
#
#   make             the BPF objects the tools load: dist/bpf/tcpstates.bpf.o and
#                    the kernel feature probes dist/bpf/probe.bpf.o (src/bpf/features.ts)
#   make probes      test/build's host program that prints bpf/tcpstates.h's constants
#   make fixtures    test/kernel's deliberately broken BPF objects (robust-errors)
#   make bench       the bench's helpers: load generator, resource meter, syscall loop
#   make floor       the bench's floor: minimal BPF programs and their libbpf loader
#   make clean       dist/ of all of them
#
# vmlinux.h is generated from the running kernel's BTF; CO-RE relocates field
# accesses at load time, so the object still runs on other BTF-enabled kernels.

CLANG ?= clang
CC ?= cc
BPFTOOL ?= bpftool
LLVM_STRIP ?= llvm-strip
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

OUT := dist
VMLINUX_H := $(OUT)/bpf/vmlinux.h
# The kernel program's own headers: any bpf/*.h, so a new one needs no edit here.
BPF_HEADERS := $(wildcard bpf/*.h)
# -g: the BTF that CO-RE, tp_btf and socket storage need comes with it.
BPF_CFLAGS := -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -I$(OUT)/bpf -Ibpf
HOST_CFLAGS := -O2 -Wall -Wextra -Werror

BENCH_HELPERS := $(OUT)/bench/loadgen $(OUT)/bench/measure $(OUT)/bench/syscalls
FIXTURE_OBJECTS := $(patsubst test/fixtures/%.bpf.c,$(OUT)/test/fixtures/%.bpf.o,$(wildcard test/fixtures/*.bpf.c))

all: bpf
bpf: $(OUT)/bpf/tcpstates.bpf.o $(OUT)/bpf/probe.bpf.o
probes: $(OUT)/test/build/header-constants
fixtures: $(FIXTURE_OBJECTS)
bench: $(BENCH_HELPERS)
floor: $(OUT)/bench/floor.bpf.o $(OUT)/bench/floor

$(VMLINUX_H):
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp
	mv $@.tmp $@

$(OUT)/bpf/tcpstates.bpf.o: bpf/tcpstates.bpf.c $(BPF_HEADERS) $(VMLINUX_H)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	# DWARF is only for debuggers; the BTF that CO-RE and the layout test use stays.
	$(LLVM_STRIP) -g $@.tmp -o $@
	rm -f $@.tmp

# The kernel feature probes, loaded one at a time when the tracer's load fails.
$(OUT)/bpf/probe.bpf.o: bpf/probe.bpf.c $(VMLINUX_H)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(LLVM_STRIP) -g $@.tmp -o $@
	rm -f $@.tmp

# The fixtures include bpf/tcpstates.bpf.c or bpf/probe.bpf.c itself (its maps, config, programs).
$(OUT)/test/fixtures/%.bpf.o: test/fixtures/%.bpf.c bpf/tcpstates.bpf.c bpf/probe.bpf.c $(BPF_HEADERS) $(VMLINUX_H)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/bench/floor.bpf.o: bench/floor.bpf.c $(VMLINUX_H)
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/bench/floor: bench/floor.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -o $@ $< -lbpf

$(OUT)/test/build/header-constants: test/build/header-constants.c $(BPF_HEADERS)
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -Ibpf -o $@ $<

$(OUT)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(HOST_CFLAGS) -o $@ $<

clean:
	rm -rf $(OUT)/bpf $(OUT)/test/build/header-constants $(OUT)/test/fixtures $(BENCH_HELPERS) $(OUT)/bench/floor $(OUT)/bench/floor.bpf.o

.PHONY: all bpf probes fixtures bench floor clean
.DELETE_ON_ERROR:
