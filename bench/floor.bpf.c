// SPDX-License-Identifier: GPL-2.0-only
/*
 * floor.bpf.c: the floor under any tcpstates built on socket storage, for
 * the benchmark (bench/floor.ts). Not a tool: one minimal program on the
 * tracepoint our tcpstates uses (tp_btf/inet_sock_set_state), doing only
 * what floor_mode says, so that the cost of each part can be measured on
 * the same load as the tools:
 *   0 empty           return at once (the cost of being attached at all)
 *   1 storage         bpf_sk_storage_get(..., F_CREATE) and a timestamp into it:
 *                     every socket's storage allocated (memcg-charged) and,
 *                     when the socket goes, freed through RCU
 *   2 storage+output  as 1, plus a 104-byte record per transition (the size
 *                     of our tcpstates record) through the perf rings
 *   3 output          the record alone, without storage (delta 0)
 *   4 storage+second  as 1, plus a second program on the same tracepoint
 *                     that returns at once (floor_second): what being called
 *                     twice per transition costs, as our nesting cover is
 *                     (bpf/nesting.h: a second program is the only way to run
 *                     where the kernel skips the first)
 *   5 hash            the same value in a hash by socket address instead,
 *                     its entries allocated as used and deleted at CLOSE, as
 *                     our tools keep it (bpf/tcpstates.bpf.c, sk_info)
 *   6 hash+second     as 5, plus the second, empty program: the floor under
 *                     our tools' own design
 * floor_mode is a load-time constant: the verifier drops the other modes'
 * code, so each mode runs nothing more than it says.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define FLOOR_EMPTY 0
#define FLOOR_STORAGE 1
#define FLOOR_STORAGE_OUTPUT 2
#define FLOOR_OUTPUT 3
#define FLOOR_STORAGE_SECOND 4
#define FLOOR_HASH 5
#define FLOOR_HASH_SECOND 6

#define TCP_CLOSE 7

/* The size of our tcpstates record (TCP_EVENT_TRANSITION_SIZE in bpf/tcpstates.h). */
#define RECORD_SIZE 104

/* Index of the per-CPU `counters` map: bpf_perf_event_output failed (ring full). */
#define COUNTER_OUTPUT_FAILED 0

const volatile __u32 floor_mode = FLOOR_EMPTY;

/* Small, like our per-socket state: what a delta needs and a little more. */
struct floor_value {
	__u64 last_ns;
	__u32 pid;
	__u16 last_states;
	__u16 __pad;
};

/* The record: the head of our tcp_event's layout, the fields we do not
 * compute left zero (they are copied to the ring all the same). */
struct floor_record {
	__u64 ts_ns;
	__u64 skaddr;
	__u64 delta_ns;
	__u64 __zero1;
	__u32 pid;
	__u32 __zero2;
	__u8 __zero3[54];
	__u8 oldstate;
	__u8 newstate;
	__u8 __zero4[8];
};

_Static_assert(sizeof(struct floor_record) == RECORD_SIZE, "the record is tcpstates' size");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct floor_value);
} states SEC(".maps");

/* As large as our sk_info (MAX_SOCKETS in bpf/tcpstates.bpf.c). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct floor_value);
} hashed_states SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_set_state, const struct sock *sk, int oldstate, int newstate)
{
	if (floor_mode == FLOOR_EMPTY)
		return 0;

	__u64 now_ns = bpf_ktime_get_ns();
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 delta_ns = 0;

	if (floor_mode == FLOOR_HASH || floor_mode == FLOOR_HASH_SECOND) {
		__u64 key = (__u64)sk;
		struct floor_value *value = bpf_map_lookup_elem(&hashed_states, &key);

		if (newstate == TCP_CLOSE) {
			bpf_map_delete_elem(&hashed_states, &key);
			return 0;
		}
		if (!value) {
			struct floor_value fresh = {};

			bpf_map_update_elem(&hashed_states, &key, &fresh, BPF_NOEXIST);
			value = bpf_map_lookup_elem(&hashed_states, &key);
		}
		if (value) {
			value->last_ns = now_ns;
			value->pid = pid;
			value->last_states = (__u16)(oldstate << 8 | newstate);
		}
		return 0;
	}
	if (floor_mode == FLOOR_STORAGE || floor_mode == FLOOR_STORAGE_OUTPUT || floor_mode == FLOOR_STORAGE_SECOND) {
		struct floor_value *value = bpf_sk_storage_get(&states, (struct sock *)sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);

		if (value) {
			if (value->last_ns)
				delta_ns = now_ns - value->last_ns;
			value->last_ns = now_ns;
			value->pid = pid;
			value->last_states = (__u16)(oldstate << 8 | newstate);
		}
	}
	if (floor_mode == FLOOR_STORAGE || floor_mode == FLOOR_STORAGE_SECOND)
		return 0;

	struct floor_record record = {};

	record.ts_ns = now_ns;
	record.skaddr = (__u64)sk;
	record.delta_ns = delta_ns;
	record.pid = pid;
	record.oldstate = oldstate;
	record.newstate = newstate;
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &record, sizeof(record))) {
		__u32 zero = COUNTER_OUTPUT_FAILED;
		__u64 *failed = bpf_map_lookup_elem(&counters, &zero);

		if (failed)
			*failed += 1;
	}
	return 0;
}

/* Mode 4's second program, attached after floor_set_state (floor.c loads it
 * only in that mode). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_second, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
