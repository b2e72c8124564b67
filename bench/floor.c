// SPDX-License-Identifier: MIT
/*
 * floor.c: loads bench/floor.bpf.c in one of its modes, for the benchmark
 * (bench/floor.ts). Usage: floor OBJECT MODE (0 empty, 1 storage,
 * 2 storage+output, 3 output, 4 storage+second, 5 hash, 6 hash+second).
 *
 * Opens the object, sets floor_mode in its .rodata, loads and attaches the
 * program (in modes 4 and 6, then the second one), then writes "attached" on stderr. In the output modes it reads
 * the per-CPU perf rings (1024 pages each, our tcpstates' default) the way
 * our tool does: the kernel wakes the reader only once a ring is half full
 * (a watermark), and the reader also drains every ring whenever 10 ms pass
 * without a wakeup. libbpf's perf_buffer__new() would instead wake it on
 * every record, which is what makes libbpf-tools slow; the floor is about
 * the kernel side, not that. Records are only counted, never looked at.
 *
 * On SIGINT/SIGTERM it drains the rings, detaches, and prints one line on
 * stdout:
 *   floor: mode=NAME read=N lost=N output_failed=N missed=N
 * read: records read; lost: records the kernel dropped because a ring was
 * full (PERF_RECORD_LOST); output_failed: bpf_perf_event_output() failures
 * counted by the program; missed: runs the kernel skipped because the
 * program was already running on that CPU (bpf_prog_info.recursion_misses).
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RING_PAGES 1024
#define POLL_TIMEOUT_MS 10

static const char *const MODE_NAMES[] = { "empty", "storage", "storage+output", "output", "storage+second", "hash", "hash+second" };

static volatile sig_atomic_t stopping;

static void on_signal(int signal)
{
	(void)signal;
	stopping = 1;
}

struct counts {
	uint64_t read;
	uint64_t lost;
};

/* PERF_RECORD_LOST's body, after the header. */
struct lost_record {
	struct perf_event_header header;
	uint64_t id;
	uint64_t lost;
};

static enum bpf_perf_event_ret on_record(void *context, int cpu, struct perf_event_header *header)
{
	struct counts *counts = context;

	(void)cpu;
	if (header->type == PERF_RECORD_SAMPLE)
		counts->read++;
	else if (header->type == PERF_RECORD_LOST)
		counts->lost += ((struct lost_record *)header)->lost;
	return LIBBPF_PERF_EVENT_CONT;
}

static int fail(const char *what, int error)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(error < 0 ? -error : error));
	return 1;
}

/* Sets the .rodata variable `name` before load (found through the object's
 * BTF, so its offset need not be guessed): a copy of the section's initial
 * value, changed, handed back with bpf_map__set_initial_value(). */
static int set_rodata_u32(struct bpf_object *object, const char *name, uint32_t value)
{
	struct bpf_map *rodata = bpf_object__find_map_by_name(object, ".rodata");
	struct btf *btf = bpf_object__btf(object);
	size_t size = 0;

	if (!rodata || !btf)
		return -ENOENT;
	/* libbpf 1.1 writes through `size` unconditionally: never NULL. */
	const char *initial = bpf_map__initial_value(rodata, &size);
	int section_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);

	if (!initial || section_id < 0)
		return -ENOENT;
	const struct btf_type *section = btf__type_by_id(btf, section_id);
	const struct btf_var_secinfo *var = btf_var_secinfos(section);

	for (int index = 0; index < btf_vlen(section); index++, var++) {
		const struct btf_type *type = btf__type_by_id(btf, var->type);

		if (strcmp(btf__name_by_offset(btf, type->name_off), name) != 0)
			continue;
		if (var->size != sizeof(value) || var->offset + var->size > size)
			return -EINVAL;
		char *data = malloc(size);
		if (!data)
			return -ENOMEM;
		memcpy(data, initial, size);
		memcpy(data + var->offset, &value, sizeof(value));
		int error = bpf_map__set_initial_value(rodata, data, size);
		free(data);
		return error;
	}
	return -ENOENT;
}

static uint64_t sum_per_cpu(int map_fd, uint32_t key)
{
	int cpus = libbpf_num_possible_cpus();
	uint64_t *values = calloc(cpus > 0 ? cpus : 1, sizeof(*values));
	uint64_t total = 0;

	if (values && cpus > 0 && bpf_map_lookup_elem(map_fd, &key, values) == 0) {
		for (int cpu = 0; cpu < cpus; cpu++)
			total += values[cpu];
	}
	free(values);
	return total;
}

int main(int argc, char **argv)
{
	if (argc != 3 || strlen(argv[2]) != 1 || argv[2][0] < '0' || argv[2][0] > '6') {
		fprintf(stderr, "usage: floor OBJECT MODE (0 empty, 1 storage, 2 storage+output, 3 output, 4 storage+second, 5 hash, 6 hash+second)\n");
		return 2;
	}
	uint32_t mode = (uint32_t)(argv[2][0] - '0');
	int output = mode == 2 || mode == 3;
	int second = mode == 4 || mode == 6;
	struct counts counts = { 0, 0 };
	struct perf_buffer *rings = NULL;
	struct bpf_link *link = NULL;
	struct bpf_link *second_link = NULL;
	int status = 1;
	int error;

	struct sigaction action = { .sa_handler = on_signal };
	sigaction(SIGINT, &action, NULL);
	sigaction(SIGTERM, &action, NULL);

	struct bpf_object *object = bpf_object__open_file(argv[1], NULL);
	if (!object)
		return fail("open", errno);
	if ((error = set_rodata_u32(object, "floor_mode", mode)) != 0) {
		status = fail("floor_mode", error);
		goto out;
	}
	struct bpf_program *second_program = bpf_object__find_program_by_name(object, "floor_second");
	if (!second_program || (error = bpf_program__set_autoload(second_program, second)) != 0) {
		status = fail("program floor_second", second_program ? error : ENOENT);
		goto out;
	}
	if ((error = bpf_object__load(object)) != 0) {
		status = fail("load", error);
		goto out;
	}
	struct bpf_program *program = bpf_object__find_program_by_name(object, "floor_set_state");
	if (!program) {
		status = fail("program floor_set_state", ENOENT);
		goto out;
	}
	link = bpf_program__attach(program);
	if (!link) {
		status = fail("attach", errno);
		goto out;
	}
	/* After the first: on one tracepoint, programs run in the order attached. */
	if (second && !(second_link = bpf_program__attach(second_program))) {
		status = fail("attach floor_second", errno);
		goto out;
	}
	if (output) {
		struct perf_event_attr attr = {
			.type = PERF_TYPE_SOFTWARE,
			.size = sizeof(attr),
			.config = PERF_COUNT_SW_BPF_OUTPUT,
			.sample_period = 1,
			.sample_type = PERF_SAMPLE_RAW,
			.watermark = 1,
			.wakeup_watermark = RING_PAGES * (uint32_t)sysconf(_SC_PAGESIZE) / 2,
		};
		rings = perf_buffer__new_raw(bpf_object__find_map_fd_by_name(object, "events"), RING_PAGES, &attr, on_record, &counts, NULL);
		if (!rings) {
			status = fail("perf rings", errno);
			goto out;
		}
	}
	fputs("attached\n", stderr);

	if (!rings) {
		/* Nothing to read: sleep until the signal. Blocked until
		 * sigsuspend(), so one that comes before it is not missed. */
		sigset_t stop_signals, others;

		sigemptyset(&stop_signals);
		sigaddset(&stop_signals, SIGINT);
		sigaddset(&stop_signals, SIGTERM);
		sigprocmask(SIG_BLOCK, &stop_signals, &others);
		while (!stopping)
			sigsuspend(&others);
	}
	while (!stopping) {
		int ready = perf_buffer__poll(rings, POLL_TIMEOUT_MS);
		if (ready == 0)
			/* No ring reached its watermark in 10 ms: read what there is. */
			ready = perf_buffer__consume(rings);
		if (ready < 0 && ready != -EINTR) {
			status = fail("poll", ready);
			goto out;
		}
	}
	/* Detach first, so that nothing more arrives, then drain. */
	bpf_link__destroy(second_link);
	second_link = NULL;
	bpf_link__destroy(link);
	link = NULL;
	if (rings && (error = perf_buffer__consume(rings)) < 0) {
		status = fail("drain", error);
		goto out;
	}

	struct bpf_prog_info info;
	uint32_t info_size = sizeof(info);
	memset(&info, 0, sizeof(info));
	uint64_t missed = bpf_obj_get_info_by_fd(bpf_program__fd(program), &info, &info_size) == 0 ? info.recursion_misses : 0;
	printf("floor: mode=%s read=%llu lost=%llu output_failed=%llu missed=%llu\n", MODE_NAMES[mode], (unsigned long long)counts.read,
	       (unsigned long long)counts.lost,
	       (unsigned long long)sum_per_cpu(bpf_object__find_map_fd_by_name(object, "counters"), 0),
	       (unsigned long long)missed);
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	perf_buffer__free(rings);
	bpf_link__destroy(second_link);
	bpf_link__destroy(link);
	bpf_object__close(object);
	return status;
}
