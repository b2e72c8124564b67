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

/* A BTF-typed tracepoint on sock:inet_sock_set_state. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_tp_btf, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

/* A socket's cookie from a tracing program (bpf_get_socket_cookie): what
 * tells an earlier socket's entry in sk_info from this one's. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(probe_socket_cookie, const struct sock *sk, int oldstate, int newstate)
{
	return bpf_get_socket_cookie((void *)sk) == 0;
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
