// SPDX-License-Identifier: GPL-2.0-only
/*
 * probe.bpf.c: the kernel features the tools need, one tiny program each
 * (src/bpf/features.ts loads them one at a time when the tracer's own load
 * fails, to name what the kernel lacks). The floor is these features, not
 * a version number: vendor kernels backport them under older numbers.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} probe_storage SEC(".maps");

/* A BTF-typed tracepoint on sock:inet_sock_set_state. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_tp_btf, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

/* Socket storage from a tracing program (bpf_sk_storage_get). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_sk_storage, const struct sock *sk, int oldstate, int newstate)
{
	__u64 *seen = bpf_sk_storage_get(&probe_storage, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (seen)
		*seen = 1;
	return 0;
}

SEC("iter/task_file")
int probe_iter_task_file(struct bpf_iter__task_file *ctx)
{
	return 0;
}

SEC("iter/tcp")
int probe_iter_tcp(struct bpf_iter__tcp *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
