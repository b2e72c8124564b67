// SPDX-License-Identifier: GPL-2.0-only
/*
 * tcpstates.bpf.c: TCP state transitions (tcpstates) and sessions (tcplife).
 *
 * Reimplements the kernel side of tcpstates(8) and tcplife(8) from bcc
 * (Brendan Gregg) and their libbpf-tools ports (Hengqi Chen).
 *
 * Attached as a BTF-typed tracepoint (tp_btf) to sock:inet_sock_set_state:
 * like a raw tracepoint it is attached by name through
 * bpf(BPF_RAW_TRACEPOINT_OPEN), so it needs no tracefs; unlike one, its
 * arguments are typed, so the struct sock is read directly (no
 * bpf_probe_read per field) and can be handed to bpf_sk_storage_get().
 * The fields are read from the struct sock exactly where the tracepoint's
 * own TP_fast_assign reads them, so the values equal the tracepoint's.
 *
 * Needs Linux 5.11 (socket storage from tracing programs); the loader checks.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcpstates.h"
#include "tcp_info.h"

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

/* Listening ports (per network namespace) whose owner we remember. A plain
 * hash allocated on demand: a host with tens of thousands of listening ports
 * across containers fits; an insert it refuses is counted
 * (COUNTER_LISTENER_FAILED) and reported. */
#define MAX_LISTEN_PORTS 131072
#define MAX_PIDS 1024

const volatile struct tcpstates_config cfg = {};

/* sock_info.iflags: what we know about the owner. */
#define OWNER_BY_USE (1u << 0) /* owner_pid connected, sent or received on it */

/*
 * What we remember per socket, in the socket's own storage: it has no size
 * limit and is freed with the socket, so no eviction and no reused socket
 * address can carry one socket's state into another's rows.
 * Internal: never crosses to user space. A zeroed value (just created) has
 * last_ns == 0: the socket's first transition seen.
 */
struct sock_info {
	__u64 last_ns;  /* time of the last transition seen, 0 = none yet */
	__u64 birth_ns; /* sessions: time of the first transition seen, 0 = not a session */
	__u32 owner_pid;
	__u8 flags;     /* TCP_EVENT_F_* learnt so far */
	__u8 iflags;    /* OWNER_* */
	__u16 last_states; /* oldstate << 8 | newstate of the last transition applied */
	char owner_comm[TASK_COMM_LEN]; /* sessions only: tcpstates shows no owner comm */
	__u64 tx_reported; /* open-session passes: bytes_acked at the previous pass */
	__u64 rx_reported; /* and bytes_received (bpf/open_sessions.h) */
};

/* on_set_state's result when the transition was already applied. */
#define ALREADY_APPLIED 1

struct owner {
	__u32 pid;
	char comm[TASK_COMM_LEN];
	__u32 __pad;
	/* The listening socket this was learnt from (listen()), or 0 when it
	 * was learnt from a process seen serving one of its children. */
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
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_info);
} sk_info SEC(".maps");

/* Listening port -> the process last seen accepting on it (the first to use
 * one of its children), else the one that called listen(): a child reset
 * before accept() belongs to it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
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

/*
 * The transitions handle_set_state began on this CPU, most recent last (see
 * handle_set_state_nested): a small ring, as one run can be interrupted by
 * a softirq's.
 */
#define HANDLED_SLOTS 4

struct transition_key {
	__u64 skaddr;
	__u32 states; /* oldstate << 8 | newstate */
	__u32 __pad;
};

struct handled {
	struct transition_key slots[HANDLED_SLOTS];
	__u32 next;
	__u32 running; /* handle_set_state is running on this CPU (see count_alone) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct handled);
} handled SEC(".maps");

static __always_inline void count(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &index);

	/* Per CPU, but the two state-change programs nest (a softirq
	 * interrupting a syscall): atomic, so no count is lost. */
	if (value)
		__sync_fetch_and_add(value, 1);
}

/*
 * count() without the atomic, for the one counter on every transition's path
 * (COUNTER_EMITTED): a locked add right after bpf_perf_event_output() waits
 * for the record's stores to drain, some 20 ns a transition. Safe only where
 * no other writer of `index` can interrupt the load-add-store on this CPU:
 * COUNTER_EMITTED is written only by a handle_set_state run that began while
 * no other one was running on its CPU (struct handled.running); the kernel
 * never lets such a run be interrupted by another (since Linux 6.1 it skips a
 * program's nested run: that is handle_set_state_nested's job), and where an
 * older kernel does run one nested, the nested one sees `running` and counts
 * COUNTER_EMITTED_NESTED atomically instead, as handle_set_state_nested does.
 */
static __always_inline void count_alone(__u32 index)
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
static __always_inline bool sock_in_scope(struct sock *sk, __u32 netns_ino)
{
	if ((cfg.filters & FILTER_NETNS) && netns_ino != cfg.netns_ino)
		return false;
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
 * SCM_RIGHTS garbage collector) or doing I/O on one (NFS, iSCSI, kTLS) is
 * not its owner. */
static __always_inline bool current_is_kthread(void)
{
	return bpf_get_current_task_btf()->flags & PF_KTHREAD;
}

static __always_inline struct listener_key listener_key_of(__u32 netns_ino, __u16 port)
{
	struct listener_key key = { .netns_ino = netns_ino, .port = port };

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
 * described in the object's BTF, which test/build/layout.test.ts checks the
 * TypeScript decoder against. */
static __noinline int output_event(void *ctx, struct tcp_event *event, __u64 size, bool alone)
{
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, event, size))
		count(COUNTER_OUTPUT_FAILED);
	else if (alone)
		count_alone(COUNTER_EMITTED);
	else
		count(COUNTER_EMITTED_NESTED);
	return 0;
}

/* saddr and daddr: 16 bytes each (tcp_event, open_session). */
static __always_inline void fill_addresses(__u8 *saddr, __u8 *daddr, __u16 family, struct sock *sk, struct tcp_sock *tp)
{
	if (family == AF_INET) {
		*(__u32 *)saddr = tp->inet_conn.icsk_inet.inet_saddr;
		*(__u32 *)daddr = sk->__sk_common.skc_daddr;
	} else {
		__builtin_memcpy(saddr, &sk->__sk_common.skc_v6_rcv_saddr, 16);
		__builtin_memcpy(daddr, &sk->__sk_common.skc_v6_daddr, 16);
	}
}

/* tcpstates: the owner is the caller of connect(), listen() or close(), as
 * seen at those transitions. Only its pid is ever shown (JSON's owner_pid):
 * its comm, which only tcplife's rows show, is not copied, which saves a
 * bpf_get_current_comm() on 3 of a connection's 10 transitions. */
static __always_inline void transition_owner(struct sock_info *info, int newstate, __u32 pid)
{
	if (runs_in_owner_context(newstate) && !(info->owner_pid && current_is_kthread()))
		info->owner_pid = pid;
}

/*
 * tcplife: the owner is the process that last *used* the session (connect,
 * send, receive: see handle_send/handle_recv). listen() names the listener's
 * owner. A close (FIN_WAIT1, LAST_ACK) names the closer only while no use was
 * seen (an accept-then-close), so a fork child that only drops the last
 * reference to an inherited socket does not replace the process that used it.
 */
static __always_inline void session_owner(struct sock_info *info, int newstate, __u32 pid)
{
	if (newstate == TCP_SYN_SENT) {
		remember_owner(info, pid);
		info->iflags |= OWNER_BY_USE;
	} else if (newstate == TCP_LISTEN) {
		remember_owner(info, pid);
	} else if ((newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) &&
		   !(info->iflags & OWNER_BY_USE) && !current_is_kthread()) {
		remember_owner(info, pid);
	}
}

/* alone: no other run of handle_set_state is under way on this CPU (count_alone). */
static __always_inline int on_set_state(void *ctx, struct sock *sk, int oldstate, int newstate, bool alone)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	/* The typed view of the rest of the socket (inet_sock, tcp_sock). */
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;

	/*
	 * The socket's pointers are followed here, once, ahead of every branch.
	 * The verifier checks each load of a pointer through a kernel (BTF)
	 * pointer with a search of the whole kernel BTF, about 1 ms on 6.18, and
	 * does so on every path it explores that reaches the load: the same
	 * loads at each use cost the two programs some 20 ms of load time at
	 * every start. Loaded directly, they cost a few ns at run time.
	 * sk_cgrp_data.cgroup is NULL without cgroup v2 socket data: direct
	 * loads through a NULL BTF pointer read 0.
	 */
	__u32 netns_ino = sk->__sk_common.skc_net.net->ns.inum;
	__u64 cgroup_id = sk->sk_cgrp_data.cgroup->kn->id;

	__u16 family = sk->__sk_common.skc_family;
	if (cfg.target_family && family != cfg.target_family)
		return 0;
	if (!sock_in_scope(sk, netns_ino))
		return 0;

	__u16 sport = tp->inet_conn.icsk_inet.inet_sport;
	__u16 dport = sk->__sk_common.skc_dport;
	sport = bpf_ntohs(sport);
	dport = bpf_ntohs(dport);
	bool sessions = cfg.mode == TRACE_SESSIONS;

	/* tcpstates filters ports before touching any state, as bcc does: a
	 * filtered socket is not tracked, so its first passing transition shows
	 * 0.000. The PID filter (on the on-CPU task) only decides below whether
	 * to emit: one socket's transitions run in different tasks (softirq, the
	 * peer on loopback), and skipping the timestamp update for those would
	 * make the next shown row's MS include states that were never shown. */
	if (!sessions && !ports_pass(sport, dport))
		return 0;

	__u64 now_ns = bpf_ktime_get_ns();
	__u32 current_pid = bpf_get_current_pid_tgid() >> 32;
	struct sock_info *info = bpf_sk_storage_get(&sk_info, sk, NULL, BPF_SK_STORAGE_GET_F_CREATE);
	struct sock_info fresh = {};
	__u64 delta_ns = 0;

	if (!info) {
		/* No memory for the storage: this row is right, the socket's next
		 * ones restart as if first seen. Counted and reported. */
		count(COUNTER_TRACKING_FAILED);
		info = &fresh;
	}
	/* One socket never makes the same change twice in a row, so this is
	 * handle_set_state_nested redoing one that handle_set_state did: a
	 * softirq's transitions overwrote its note before it looked. */
	__u16 states = (__u16)(oldstate << 8 | newstate);
	if (oldstate != newstate && info->last_states == states)
		return ALREADY_APPLIED;
	if (info->last_ns) {
		delta_ns = now_ns - (sessions ? info->birth_ns : info->last_ns);
	} else if (newstate == TCP_SYN_RECV && oldstate == TCP_LISTEN) {
		info->flags |= TCP_EVENT_F_PASSIVE;
		if (sessions) {
			/* A child of a listener: provisionally owned by whoever
			 * accepts on it (or listens), until a process uses it. */
			struct listener_key key = listener_key_of(netns_ino, sport);
			struct owner *listener = bpf_map_lookup_elem(&listeners, &key);

			if (listener) {
				info->owner_pid = listener->pid;
				__builtin_memcpy(info->owner_comm, listener->comm, TASK_COMM_LEN);
			}
		}
	}

	if (sessions)
		session_owner(info, newstate, current_pid);
	else
		transition_owner(info, newstate, current_pid);

	if (sessions && newstate == TCP_LISTEN) {
		struct listener_key key = listener_key_of(netns_ino, sport);
		struct owner listener = { .pid = current_pid, .listener_skaddr = (__u64)sk };

		bpf_get_current_comm(listener.comm, sizeof(listener.comm));
		if (bpf_map_update_elem(&listeners, &key, &listener, BPF_ANY))
			count(COUNTER_LISTENER_FAILED);
	}

	bool emit = !sessions && pid_passes(current_pid);
	if (sessions && newstate == TCP_CLOSE && info->birth_ns) {
		__u32 pid = info->owner_pid ? info->owner_pid : current_pid;

		emit = ports_pass(sport, dport) && pid_passes(pid);
	}

	if (emit) {
		struct tcp_event event = {};

		event.ts_ns = now_ns;
		event.skaddr = (__u64)sk;
		event.delta_ns = delta_ns;
		event.pid = current_pid;
		event.owner_pid = info->owner_pid;
		event.family = family;
		event.sport = sport;
		event.dport = dport;
		event.oldstate = oldstate;
		event.newstate = newstate;
		event.flags = info->flags;
		event.sk_err = sk->sk_err;
		event.netns_ino = netns_ino;
		event.cgroup_id = cgroup_id;
		bpf_get_current_comm(event.comm, sizeof(event.comm));
		fill_addresses(event.saddr, event.daddr, family, sk, tp);
		if (sessions) {
			__builtin_memcpy(event.owner_comm, info->owner_comm, TASK_COMM_LEN);
			event.tx_bytes = tp->bytes_acked;
			event.rx_bytes = tp->bytes_received;
			fill_tcp_info(&event.info, tp);
			output_event(ctx, &event, sizeof(event), alone);
		} else {
			output_event(ctx, &event, TCP_EVENT_TRANSITION_SIZE, alone);
		}
	}

	if (newstate == TCP_CLOSE) {
		/* A socket can leave CLOSE again (connect() after a failed one):
		 * it then starts afresh. The storage itself goes with the socket;
		 * it keeps last_states, so that a redone CLOSE is known as one. */
		if (info != &fresh) {
			__builtin_memset(info, 0, sizeof(*info));
			info->last_states = states;
		}
		if (sessions && oldstate == TCP_LISTEN) {
			/* Only this listener's entry (SO_REUSEPORT: others may share
			 * the port), or one learnt from a child's user, which may
			 * have accepted on it. */
			struct listener_key key = listener_key_of(netns_ino, sport);
			struct owner *listener = bpf_map_lookup_elem(&listeners, &key);

			if (listener && (listener->listener_skaddr == (__u64)sk || !listener->listener_skaddr))
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
	/* tcpstates: only a seeded socket's first transition counts from the seed. */
	if (!sessions)
		info->flags &= ~TCP_EVENT_F_SEEDED;
	info->last_states = states;
	return 0;
}

/*
 * The kernel runs a tracing program at most once at a time per CPU: a
 * transition in a softirq that interrupts handle_set_state (a close() in a
 * syscall, say) would be skipped and only counted (recursion_misses); under
 * load that is tens to hundreds of transitions a second. So the same work is
 * attached twice. handle_set_state notes each transition it begins in a
 * per-CPU ring, then does the work; handle_set_state_nested, attached after
 * it, runs on every transition too, and does the work only when the
 * transition is not in the ring: exactly when the kernel skipped
 * handle_set_state for it. Softirqs do not nest in softirqs and no
 * transition runs in a hard interrupt, so one level of nesting is all there
 * is. A softirq with more than 4 transitions can overwrite a note before
 * handle_set_state_nested looks for it: the redo is then recognised by the
 * socket's last applied transition (sock_info.last_states) and skipped.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0;
	struct handled *ring = bpf_map_lookup_elem(&handled, &zero);
	__u32 was_running = 1;

	if (ring) {
		__u32 slot = ring->next & (HANDLED_SLOTS - 1);

		ring->slots[slot].skaddr = (__u64)sk;
		ring->slots[slot].states = (__u32)oldstate << 8 | (__u32)newstate;
		ring->next = slot + 1;
		was_running = ring->running;
		ring->running = 1;
	}
	on_set_state(ctx, (struct sock *)sk, oldstate, newstate, !was_running);
	if (ring)
		ring->running = was_running;
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state_nested, const struct sock *sk, int oldstate, int newstate)
{
	__u32 zero = 0;
	struct handled *ring = bpf_map_lookup_elem(&handled, &zero);
	__u32 states = (__u32)oldstate << 8 | (__u32)newstate;

	if (!ring)
		return 0;
#pragma clang loop unroll(full)
	for (int i = 0; i < HANDLED_SLOTS; i++) {
		if (ring->slots[i].skaddr == (__u64)sk && ring->slots[i].states == states) {
			ring->slots[i].skaddr = 0; /* handled: forget it */
			return 0;
		}
	}
	/* Counted only when it was not a redo: the loader weighs this count
	 * against the first program's skipped runs. */
	if (on_set_state(ctx, (struct sock *)sk, oldstate, newstate, false) != ALREADY_APPLIED)
		count(COUNTER_NESTED);
	return 0;
}

/*
 * A passive session's first user is (nearly always) the process that
 * accepted it: it becomes the listener's "last seen accepting" process, the
 * owner of later children reset before any accept(). A process forked after
 * the session began did not accept it: its parent did (a forking server).
 */
static __always_inline void learn_accepter(struct sock *sk, struct tcp_sock *tp, struct sock_info *info, __u32 pid)
{
	/* Pointers followed with probe reads (BPF_CORE_READ), not direct loads:
	 * this runs once per passive session, and each direct load of a
	 * pointer costs the verifier a search of the kernel BTF (see
	 * on_set_state), some 3 ms of load time for each of the two programs. */
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	struct listener_key key = listener_key_of(netns_ino, bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport));
	struct owner *listener = bpf_map_lookup_elem(&listeners, &key);
	struct owner learnt = {};

	if (BPF_CORE_READ(task, group_leader, start_time) > info->birth_ns) {
		struct task_struct *parent = BPF_CORE_READ(task, group_leader, real_parent);

		learnt.pid = BPF_CORE_READ(parent, tgid);
		bpf_core_read(learnt.comm, TASK_COMM_LEN, &parent->comm);
	} else {
		learnt.pid = pid;
		__builtin_memcpy(learnt.comm, info->owner_comm, TASK_COMM_LEN);
	}
	if (listener) {
		/* In place: one entry per port, written by whoever serves it. */
		if (listener->pid != learnt.pid) {
			listener->pid = learnt.pid;
			__builtin_memcpy(listener->comm, learnt.comm, TASK_COMM_LEN);
		}
	} else if (bpf_map_update_elem(&listeners, &key, &learnt, BPF_NOEXIST)) {
		count(COUNTER_LISTENER_FAILED);
	}
}

/* Owner by use: the process sending or receiving on a session owns it.
 * Runs at the end of every sock_sendmsg/sock_recvmsg (process context). */
static __always_inline void claim(struct sock *sk)
{
	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return;
	/* No create: a socket with no transition seen is not a session of ours
	 * (it predates the trace, or is a listener's). */
	struct sock_info *info = bpf_sk_storage_get(&sk_info, sk, NULL, 0);
	if (!info || !info->birth_ns)
		return;

	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	if (info->owner_pid == pid && (info->iflags & OWNER_BY_USE))
		return;
	if (current_is_kthread())
		return;

	bool first_use = !(info->iflags & OWNER_BY_USE);
	remember_owner(info, pid);
	info->iflags |= OWNER_BY_USE;
	if (first_use && (info->flags & TCP_EVENT_F_PASSIVE)) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

		if (tp)
			learn_accepter(sk, tp, info, pid);
	}
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(handle_send, struct sock *sk, int ret, int flags)
{
	claim(sk);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_recv, struct sock *sk, int ret, int flags)
{
	claim(sk);
	return 0;
}

#include "open_sessions.h"

char LICENSE[] SEC("license") = "GPL";
