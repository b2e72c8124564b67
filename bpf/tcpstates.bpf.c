// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcpstates.bpf.c: TCP state transitions (tcpstates) and sessions (tcplife).
 *
 * Reimplements the kernel side of tcpstates(8) and tcplife(8) from bcc
 * (Brendan Gregg) and their libbpf-tools ports (Hengqi Chen).
 *
 * Attached as a *raw* tracepoint to sock:inet_sock_set_state: raw tracepoints
 * are attached by name through bpf(BPF_RAW_TRACEPOINT_OPEN), so unlike the
 * perf-event path they need no tracefs to look up a tracepoint id. The fields
 * are read from the struct sock exactly where the tracepoint's own
 * TP_fast_assign reads them, so the values equal the tracepoint's.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcpstates.h"

/* from include/net/tcp_states.h */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* from include/linux/sched.h */
#define PF_KTHREAD 0x00200000

/* from arch/x86/entry/syscalls/syscall_64.tbl */
#define NR_ACCEPT 43
#define NR_ACCEPT4 288

/* Sized so that it never refuses an insert: LRU evicts the least recently
 * used socket instead (its next transition then shows 0.000, as a socket
 * first seen does). */
#define MAX_SOCKETS 65536
#define MAX_LISTEN_PORTS 4096
#define MAX_PIDS 1024

const volatile struct tcpstates_config cfg = {};

/* What we remember per socket; internal, never crosses to user space. */
struct sock_info {
	__u64 last_ns;  /* time of the last transition seen */
	__u64 birth_ns; /* sessions: time of the first transition seen, 0 = not a session */
	__u32 owner_pid;
	__u32 flags; /* TCP_EVENT_F_* learnt so far */
	char owner_comm[TASK_COMM_LEN];
};

struct owner {
	__u32 pid;
	char comm[TASK_COMM_LEN];
	__u32 __pad;
	/* The listening socket this was learnt from (listen()), or 0 when it
	 * was learnt from an accept() on a listener that predates tracing. */
	__u64 listener_skaddr;
};

/* Ports are per network namespace: the same port may be listened on in
 * many containers, by different processes. */
struct listener_key {
	__u32 netns_ino;
	__u16 port;
	__u16 __pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct sock_info);
} sockets SEC(".maps");

/* Listening port -> the process that called listen() (or, for a listener
 * that predates tracing, the last one seen accepting on it): a child socket
 * created by a SYN belongs to it until accept() tells us the exact process. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_LISTEN_PORTS);
	__type(key, struct listener_key);
	__type(value, struct owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &index);

	if (value)
		*value += 1;
}

static __always_inline bool port_in(const volatile __u64 *bits, __u16 port)
{
	return (bits[port >> 6] >> (port & 63)) & 1;
}

static __always_inline bool pid_passes(__u32 pid)
{
	if (!(cfg.filters & FILTER_PID))
		return true;
	return bpf_map_lookup_elem(&pids, &pid) != NULL;
}

static __always_inline bool ports_pass(__u16 sport, __u16 dport)
{
	if ((cfg.filters & FILTER_LPORT) && !port_in(cfg.lport_bits, sport))
		return false;
	if ((cfg.filters & FILTER_DPORT) && !port_in(cfg.dport_bits, dport))
		return false;
	return true;
}

/* struct cgroup before Linux 6.1 (a CO-RE flavor: only the name's part
 * before ___ is matched against the kernel's types). */
struct cgroup___pre61 {
	int level;
	__u64 ancestor_ids[];
} __attribute__((preserve_access_index));

/*
 * FILTER_NETNS and FILTER_CGROUP (-N/--netns, --cgroup): is the socket in the
 * traced network namespace, and in the traced cgroup v2 or below it? A cgroup
 * is below cfg.cgroup_id when its ancestor at cfg.cgroup_level (ancestors[0]
 * is the root) is that cgroup: the kernel's own cgroup_is_descendant() test.
 */
static __always_inline bool sock_in_scope(struct sock *sk)
{
	if (cfg.filters & FILTER_NETNS) {
		__u32 netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);

		if (netns_ino != cfg.netns_ino)
			return false;
	}
	if (cfg.filters & FILTER_CGROUP) {
		struct cgroup *cgrp = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
		struct cgroup *ancestor = NULL;
		__u32 level = cfg.cgroup_level;

		if (!cgrp || BPF_CORE_READ(cgrp, level) < (int)level)
			return false;
		if (bpf_core_field_exists(struct cgroup___pre61, ancestor_ids)) {
			/* Before Linux 6.1 the ancestors were kept as ids. */
			struct cgroup___pre61 *old = (void *)cgrp;
			__u64 *ids = (void *)old + bpf_core_field_offset(struct cgroup___pre61, ancestor_ids);
			__u64 id = 0;

			if (bpf_probe_read_kernel(&id, sizeof(id), &ids[level]))
				return false;
			return id == cfg.cgroup_id;
		}
		/* ancestors[] is a flexible array: its offset from CO-RE, the
		 * element read with bpf_probe_read_kernel. */
		struct cgroup **ancestors = (void *)cgrp + bpf_core_field_offset(struct cgroup, ancestors);
		if (bpf_probe_read_kernel(&ancestor, sizeof(ancestor), &ancestors[level]) || !ancestor)
			return false;
		if (BPF_CORE_READ(ancestor, kn, id) != cfg.cgroup_id)
			return false;
	}
	return true;
}

static __always_inline void remember_owner(struct sock_info *info, __u32 pid)
{
	info->owner_pid = pid;
	bpf_get_current_comm(info->owner_comm, sizeof(info->owner_comm));
}

/* A kernel thread closing a socket (delayed fput from a kworker, the
 * SCM_RIGHTS garbage collector) is not its owner: keep the one we know. */
static __always_inline bool current_is_kthread(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, flags) & PF_KTHREAD;
}

static __always_inline struct listener_key listener_key_of(struct sock *sk, __u16 port)
{
	struct listener_key key = { .port = port };

	key.netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	return key;
}

/*
 * Transitions that only ever run in the context of a syscall on the socket
 * (connect, listen, close/shutdown), so the task on the CPU is the owner.
 * The others (SYN_RECV, ESTABLISHED, FIN_WAIT2, CLOSE...) often run in
 * softirq, where on loopback the task on the CPU is the *peer*.
 */
static __always_inline bool runs_in_owner_context(int newstate)
{
	return newstate == TCP_SYN_SENT || newstate == TCP_LISTEN ||
	       newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK;
}

/* Not inlined on purpose: as a subprogram's parameter, struct tcp_event is
 * described in the object's BTF, which test/layout.test.ts checks the
 * TypeScript decoder against. */
static __noinline int output_event(void *ctx, struct tcp_event *event, __u64 size)
{
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, event, size))
		count(COUNTER_OUTPUT_FAILED);
	else
		count(COUNTER_EMITTED);
	return 0;
}

static __always_inline void fill_addresses(struct tcp_event *event, struct sock *sk)
{
	struct inet_sock *inet = (struct inet_sock *)sk;

	if (event->family == AF_INET) {
		BPF_CORE_READ_INTO((__u32 *)event->saddr, inet, inet_saddr);
		BPF_CORE_READ_INTO((__u32 *)event->daddr, sk, __sk_common.skc_daddr);
	} else {
		/* Explicit sizes: BPF_CORE_READ_INTO would copy sizeof(*dst), one byte. */
		bpf_core_read(event->saddr, sizeof(event->saddr), &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(event->daddr, sizeof(event->daddr), &sk->__sk_common.skc_v6_daddr);
	}
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(handle_set_state, struct sock *sk, int oldstate, int newstate)
{
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;

	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (cfg.target_family && family != cfg.target_family)
		return 0;
	if (!sock_in_scope(sk))
		return 0;

	struct inet_sock *inet = (struct inet_sock *)sk;
	__u16 sport = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
	__u16 dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	__u64 now_ns = bpf_ktime_get_ns();
	__u32 current_pid = bpf_get_current_pid_tgid() >> 32;
	__u64 skaddr = (__u64)sk;
	bool sessions = cfg.mode == TRACE_SESSIONS;

	/* tcpstates filters ports before touching any state, as bcc does: a
	 * filtered socket is not tracked, so its first passing transition shows
	 * 0.000. The PID filter (on the on-CPU task) only decides below whether
	 * to emit: one socket's transitions run in different tasks (softirq, the
	 * peer on loopback), and skipping the timestamp update for those would
	 * make the next shown row's MS include states that were never shown. */
	if (!sessions && !ports_pass(sport, dport))
		return 0;

	struct sock_info *info = bpf_map_lookup_elem(&sockets, &skaddr);
	struct sock_info fresh = {};
	__u64 delta_ns = 0;

	if (info) {
		delta_ns = now_ns - (sessions ? info->birth_ns : info->last_ns);
	} else {
		info = &fresh;
		if (newstate == TCP_SYN_RECV && oldstate == TCP_LISTEN)
			fresh.flags |= TCP_EVENT_F_PASSIVE;
		if (sessions && newstate == TCP_SYN_RECV && oldstate == TCP_LISTEN) {
			/* A child of a listener: provisionally owned by whoever listens. */
			struct listener_key key = listener_key_of(sk, sport);
			struct owner *listener = bpf_map_lookup_elem(&listeners, &key);

			if (listener) {
				fresh.owner_pid = listener->pid;
				__builtin_memcpy(fresh.owner_comm, listener->comm, TASK_COMM_LEN);
			}
		}
	}

	if (runs_in_owner_context(newstate) && !(info->owner_pid && current_is_kthread()))
		remember_owner(info, current_pid);

	if (sessions && newstate == TCP_LISTEN) {
		struct listener_key key = listener_key_of(sk, sport);
		struct owner listener = { .pid = current_pid, .listener_skaddr = skaddr };

		bpf_get_current_comm(listener.comm, sizeof(listener.comm));
		bpf_map_update_elem(&listeners, &key, &listener, BPF_ANY);
	}

	bool emit = !sessions && pid_passes(current_pid);
	if (sessions && newstate == TCP_CLOSE && info->birth_ns) {
		__u32 pid = info->owner_pid ? info->owner_pid : current_pid;

		emit = ports_pass(sport, dport) && pid_passes(pid);
	}

	if (emit) {
		struct tcp_event event = {};

		event.ts_ns = now_ns;
		event.skaddr = skaddr;
		event.delta_ns = delta_ns;
		event.pid = current_pid;
		event.owner_pid = info->owner_pid;
		event.family = family;
		event.sport = sport;
		event.dport = dport;
		event.oldstate = oldstate;
		event.newstate = newstate;
		event.flags = info->flags;
		event.sk_err = BPF_CORE_READ(sk, sk_err);
		event.netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		event.cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
		bpf_get_current_comm(event.comm, sizeof(event.comm));
		fill_addresses(&event, sk);
		if (sessions) {
			struct tcp_sock *tp = (struct tcp_sock *)sk;

			__builtin_memcpy(event.owner_comm, info->owner_comm, TASK_COMM_LEN);
			event.tx_bytes = BPF_CORE_READ(tp, bytes_acked);
			event.rx_bytes = BPF_CORE_READ(tp, bytes_received);
			output_event(ctx, &event, sizeof(event));
		} else {
			output_event(ctx, &event, TCP_EVENT_TRANSITION_SIZE);
		}
	}

	if (newstate == TCP_CLOSE) {
		/* struct sock addresses are reused: forget this one now. */
		if (info != &fresh)
			bpf_map_delete_elem(&sockets, &skaddr);
		if (sessions && oldstate == TCP_LISTEN) {
			/* Only this listener's entry (SO_REUSEPORT: others may share
			 * the port), or one learnt from accept(), which may be it. */
			struct listener_key key = listener_key_of(sk, sport);
			struct owner *listener = bpf_map_lookup_elem(&listeners, &key);

			if (listener && (listener->listener_skaddr == skaddr || !listener->listener_skaddr))
				bpf_map_delete_elem(&listeners, &key);
		}
		return 0;
	}

	info->last_ns = now_ns;
	/* A session starts at its first transition into SYN_SENT, SYN_RECV or
	 * ESTABLISHED; listeners and sockets first seen while closing are not
	 * sessions (their start was missed). */
	if (sessions && !info->birth_ns && newstate < TCP_FIN_WAIT1)
		info->birth_ns = now_ns;

	if (info == &fresh && bpf_map_update_elem(&sockets, &skaddr, &fresh, BPF_NOEXIST))
		count(COUNTER_TRACKING_FAILED);
	return 0;
}

/*
 * accept() and accept4() return a socket in the accepting process's context:
 * the exact owner of a server-side session, which no state transition gives
 * (a peer's RST closes it in softirq, on loopback in the peer's context).
 * Loaded only in sessions mode: it runs on every syscall exit.
 */
SEC("raw_tp/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	if (ret < 0)
		return 0;

	long nr = BPF_CORE_READ(regs, orig_ax);
	if (nr != NR_ACCEPT && nr != NR_ACCEPT4)
		return 0;

	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || ret >= BPF_CORE_READ(fdt, max_fds))
		return 0;

	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	bpf_probe_read_kernel(&file, sizeof(file), &fds[ret]);
	if (!file)
		return 0;

	struct socket *sock = BPF_CORE_READ(file, private_data);
	if (!sock)
		return 0;

	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u64 skaddr = (__u64)sk;
	/* Only sockets we already track: anything else is not ours to touch. */
	struct sock_info *info = bpf_map_lookup_elem(&sockets, &skaddr);
	if (!info)
		return 0;

	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	remember_owner(info, pid);

	/* A listener that predates tracing has no entry: this process accepts
	 * on it, so its children not yet accepted are provisionally its own. */
	struct inet_sock *inet = (struct inet_sock *)sk;
	struct listener_key key = listener_key_of(sk, bpf_ntohs(BPF_CORE_READ(inet, inet_sport)));
	struct owner learnt = { .pid = pid };

	__builtin_memcpy(learnt.comm, info->owner_comm, TASK_COMM_LEN);
	bpf_map_update_elem(&listeners, &key, &learnt, BPF_NOEXIST);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
