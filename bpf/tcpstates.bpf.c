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
 * bpf_probe_read per field).
 * The fields are read from the struct sock exactly where the tracepoint's
 * own TP_fast_assign reads them, so the values equal the tracepoint's.
 *
 * One object, two tools: cfg.mode (in .rodata, a constant to the verifier)
 * picks tcpstates_body() or tcplife_body(), and the other is pruned. Both
 * run after the shared read_transition() and write through fill_event().
 * The nesting cover is in nesting.h, the owner tracking in owner.h.
 *
 * A failed load is explained by the feature probes (probe.bpf.c,
 * src/bpf/features.ts).
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

#define MAX_PIDS 1024
/* Sockets tracked at once (sk_info). The map's buckets are allocated at load,
 * 16 bytes each: 4 MiB, some 1.3 ms of the start. */
#define MAX_SOCKETS 262144

const volatile struct tcpstates_config cfg = {};

/*
 * What we remember per socket, in sk_info under the socket's kernel address.
 * Internal: never crosses to user space. A zeroed value (just created) has
 * last_ns == 0: the socket's first transition seen.
 */
struct sock_info {
	__u64 last_ns;  /* time of the last transition seen, 0 = none yet */
	__u64 birth_ns; /* sessions: time of the first transition seen, 0 = not a session */
	__u32 owner_pid;
	__u8 flags;     /* TCP_EVENT_F_* learnt so far */
	__u8 iflags;    /* OWNER_* (owner.h) */
	__u16 last_states; /* oldstate << 8 | newstate of the last transition applied */
	char owner_comm[TASK_COMM_LEN]; /* sessions only: tcpstates shows no owner comm */
	__u64 tx_reported; /* open-session passes: bytes_acked at the previous pass */
	__u64 rx_reported; /* and bytes_received (open_sessions.h) */
	__u64 cookie;      /* the socket's cookie: whose entry this is (info_of()) */
};

/*
 * A hash by socket address, its entries allocated as used, rather than socket
 * storage: creating a socket's storage (two memcg-charged allocations, a lock,
 * an RCU free at its end) costs a connection-churning load several times what
 * an entry here does (docs/design.md). The price is a size limit (a socket the
 * full map refuses is counted, COUNTER_TRACKING_FAILED), a delete at CLOSE
 * (handle_set_state_nested, see settle()), and the sockets the kernel frees
 * without a CLOSE (a listener's child dropped before accept() when another CPU
 * won the handshake): their entries stay until a socket at the same address
 * finds them, which the socket cookie in each entry tells apart.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_SOCKETS);
	__type(key, __u64);
	__type(value, struct sock_info);
} sk_info SEC(".maps");

/* The socket's entry; with `create`, a zeroed one if it has none (or has an
 * earlier socket's). NULL: none, or (create) the map refused it: full, or no
 * memory. */
static __always_inline struct sock_info *info_of(const struct sock *sk, bool create)
{
	__u64 key = (__u64)sk;
	struct sock_info *info = bpf_map_lookup_elem(&sk_info, &key);

	/* No entry and none wanted (owner by use on every send and receive of
	 * any socket): no cookie asked for. */
	if (!info && !create)
		return NULL;
	__u64 cookie = bpf_get_socket_cookie((void *)sk);

	if (info && info->cookie == cookie)
		return info;
	if (!create)
		return NULL;
	if (info) {
		__builtin_memset(info, 0, sizeof(*info));
		info->cookie = cookie;
		return info;
	}
	struct sock_info fresh = { .cookie = cookie };

	/* BPF_NOEXIST: another CPU may have created it meanwhile; then that one. */
	bpf_map_update_elem(&sk_info, &key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&sk_info, &key);
}

static __always_inline void forget_sock_info(const struct sock *sk)
{
	__u64 key = (__u64)sk;

	bpf_map_delete_elem(&sk_info, &key);
}

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
 * no other one was running on its CPU (struct handled.running, nesting.h);
 * the kernel never lets such a run be interrupted by another (since Linux 6.1
 * it skips a program's nested run: that is handle_set_state_nested's job),
 * and where an older kernel does run one nested, the nested one sees
 * `running` and counts COUNTER_EMITTED_NESTED atomically instead, as
 * handle_set_state_nested does.
 */
static __always_inline void count_alone(__u32 index)
{
	__u64 *value = bpf_map_lookup_elem(&counters, &index);

	if (value)
		*value += 1;
}

#include "nesting.h"
#include "owner.h"

/* ---- scope filters (cfg) ---- */

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

/* struct cgroup as these programs read it: one CO-RE flavor (only the name's
 * part before ___ is matched against the kernel's types) for every access, as
 * libbpf searches the whole kernel BTF once per local type it relocates.
 * Before Linux 6.1 the ancestors were kept as ids, since then as pointers. */
struct cgroup___any {
	struct kernfs_node *kn;
	int level;
	struct cgroup___any *ancestors[0];
	__u64 ancestor_ids[0];
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
		struct cgroup___any *cgrp = (void *)BPF_CORE_READ(sk, sk_cgrp_data.cgroup);
		struct cgroup___any *ancestor = NULL;
		__u32 level = cfg.cgroup_level;

		if (!cgrp || BPF_CORE_READ(cgrp, level) < (int)level)
			return false;
		if (bpf_core_field_exists(struct cgroup___any, ancestor_ids)) {
			/* Before Linux 6.1 the ancestors were kept as ids. */
			__u64 *ids = (void *)cgrp + bpf_core_field_offset(struct cgroup___any, ancestor_ids);
			__u64 id = 0;

			if (bpf_probe_read_kernel(&id, sizeof(id), &ids[level]))
				return false;
			return id == cfg.cgroup_id;
		}
		/* ancestors[] is a flexible array: its offset from CO-RE, the
		 * element read with bpf_probe_read_kernel. */
		struct cgroup___any **ancestors = (void *)cgrp + bpf_core_field_offset(struct cgroup___any, ancestors);
		if (bpf_probe_read_kernel(&ancestor, sizeof(ancestor), &ancestors[level]) || !ancestor)
			return false;
		if (BPF_CORE_READ(ancestor, kn, id) != cfg.cgroup_id)
			return false;
	}
	return true;
}

/* ---- the shared prologue ---- */

/* One transition as read_transition() read it: what both bodies use. */
struct transition {
	struct sock *sk;
	struct tcp_sock *tp;      /* the typed view of the rest of the socket */
	struct sock_info *info;   /* the socket's entry in sk_info, or &fallback */
	__u64 now_ns;
	__u64 cgroup_id;
	__u32 netns_ino;
	__u32 pid;                /* tgid of the task on the CPU */
	__u16 family;
	__u16 sport;              /* host byte order */
	__u16 dport;
	__u16 states;             /* oldstate << 8 | newstate */
	int oldstate;
	int newstate;
	struct sock_info fallback; /* when the storage cannot be had */
};

enum verdict {
	TRACE,        /* in scope: run the tool's body */
	OUT_OF_SCOPE, /* filtered out, or not TCP */
	REDO,         /* already applied (handle_set_state_nested redoing it) */
};

/* Reads the socket once, applies the scope filters, finds its storage. */
static __always_inline enum verdict read_transition(struct transition *t, struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return OUT_OF_SCOPE;
	t->tp = bpf_skc_to_tcp_sock(sk);
	if (!t->tp)
		return OUT_OF_SCOPE;

	/*
	 * The socket's pointers are followed here, once, ahead of every branch,
	 * and through t->tp rather than sk. The verifier checks a load of a
	 * pointer through a trusted pointer (the tracepoint's sk) with four
	 * searches of the whole kernel BTF for the field's trust, on every path
	 * it explores that reaches the load; through the plain pointer that
	 * bpf_skc_to_tcp_sock() returns it searches nothing. The loads are the
	 * same at run time: a few ns. sk_cgrp_data.cgroup is NULL without
	 * cgroup v2 socket data: direct loads through a NULL BTF pointer read 0.
	 */
	struct sock *plain = (struct sock *)t->tp;

	t->netns_ino = plain->__sk_common.skc_net.net->ns.inum;
	/* Only records show it (the --cgroup filter reads its own). */
	t->cgroup_id = cfg.aggregate & AGGREGATE_NO_RECORDS ? 0 : ((struct cgroup___any *)plain->sk_cgrp_data.cgroup)->kn->id;

	t->family = sk->__sk_common.skc_family;
	if (cfg.target_family && t->family != cfg.target_family)
		return OUT_OF_SCOPE;
	if (!sock_in_scope(sk, t->netns_ino))
		return OUT_OF_SCOPE;

	t->sk = sk;
	t->sport = bpf_ntohs(t->tp->inet_conn.icsk_inet.inet_sport);
	t->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	/* tcpstates filters ports before touching any state, as bcc does: a
	 * filtered socket is not tracked, so its first passing transition shows
	 * 0.000. (tcplife filters sessions on their ports only when it emits.) */
	if (cfg.mode == TRACE_TRANSITIONS && !ports_pass(t->sport, t->dport))
		return OUT_OF_SCOPE;

	t->oldstate = oldstate;
	t->newstate = newstate;
	t->now_ns = bpf_ktime_get_ns();
	t->pid = bpf_get_current_pid_tgid() >> 32;
	t->info = info_of(sk, true);
	if (!t->info) {
		/* No entry (the map is full, or no memory): this row is right, the
		 * socket's next ones restart as if first seen. Counted and reported. */
		count(COUNTER_TRACKING_FAILED);
		__builtin_memset(&t->fallback, 0, sizeof(t->fallback));
		t->info = &t->fallback;
	}
	/* One socket never makes the same change twice in a row, so this is
	 * handle_set_state_nested redoing one that handle_set_state did: a
	 * softirq's transitions overwrote its note before it looked. */
	t->states = (__u16)(oldstate << 8 | newstate);
	if (oldstate != newstate && t->info->last_states == t->states)
		return REDO;
	return TRACE;
}

/* The socket's first transition seen is a listener's child being born. */
static __always_inline bool born_passive(const struct transition *t)
{
	return !t->info->last_ns && t->newstate == TCP_SYN_RECV && t->oldstate == TCP_LISTEN;
}

/* After the body: the note for the next transition. A socket can leave
 * CLOSE again (connect() after a failed one): it then starts afresh. At CLOSE
 * the entry is zeroed but for last_states, so that handle_set_state_nested
 * knows a redone CLOSE as one; it deletes the entry after that check. */
static __always_inline void settle(struct transition *t)
{
	struct sock_info *info = t->info;

	if (t->newstate == TCP_CLOSE) {
		if (info != &t->fallback) {
			__u64 cookie = info->cookie;

			__builtin_memset(info, 0, sizeof(*info));
			info->last_states = t->states;
			info->cookie = cookie;
		}
		return;
	}
	info->last_ns = t->now_ns;
	info->last_states = t->states;
}

/* ---- the shared event fill ---- */

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

/* The common head of struct tcp_event (up to tx_bytes). */
static __always_inline void fill_event(struct tcp_event *event, const struct transition *t, __u64 delta_ns)
{
	struct sock *sk = t->sk;

	event->ts_ns = t->now_ns;
	event->skaddr = (__u64)sk;
	event->delta_ns = delta_ns;
	event->pid = t->pid;
	event->owner_pid = t->info->owner_pid;
	event->family = t->family;
	event->sport = t->sport;
	event->dport = t->dport;
	event->oldstate = t->oldstate;
	event->newstate = t->newstate;
	event->flags = t->info->flags;
	event->sk_err = sk->sk_err;
	event->netns_ino = t->netns_ino;
	event->cgroup_id = t->cgroup_id;
	bpf_get_current_comm(event->comm, sizeof(event->comm));
	fill_addresses(event->saddr, event->daddr, t->family, sk, t->tp);
}

/* In-kernel aggregation, where no row is printed: aggregate_transition() and
 * aggregate_session() decide whether the bodies below emit. */
#include "aggregate.h"

/* ---- tcpstates: one record per transition ---- */

/* alone: no other run of handle_set_state is under way on this CPU (count_alone). */
static __always_inline void tcpstates_body(void *ctx, struct transition *t, bool alone)
{
	struct sock_info *info = t->info;
	__u64 delta_ns = info->last_ns ? t->now_ns - info->last_ns : 0;

	if (born_passive(t))
		info->flags |= TCP_EVENT_F_PASSIVE;
	if (owners_needed())
		transition_owner(info, t->newstate, t->pid);

	/* The PID filter (on the on-CPU task) only decides whether to emit: one
	 * socket's transitions run in different tasks (softirq, the peer on
	 * loopback), and skipping the timestamp update for those would make the
	 * next shown row's MS include states that were never shown. */
	if (pid_passes(t->pid) && aggregate_transition(t, delta_ns, alone)) {
		struct tcp_event event = {};

		fill_event(&event, t, delta_ns);
		output_event(ctx, &event, TCP_EVENT_TRANSITION_SIZE, alone);
	}
	/* --existing: only a seeded socket's first transition counts from the seed. */
	info->flags &= ~TCP_EVENT_F_SEEDED;
	settle(t);
}

/* ---- tcplife: one record per session, at CLOSE ---- */

static __always_inline void tcplife_body(void *ctx, struct transition *t, bool alone)
{
	struct sock_info *info = t->info;
	__u64 delta_ns = info->last_ns ? t->now_ns - info->birth_ns : 0;

	bool owners = owners_needed();

	if (born_passive(t)) {
		info->flags |= TCP_EVENT_F_PASSIVE;
		if (owners)
			adopt_listener_owner(info, t->netns_ino, t->sport);
	}
	if (owners)
		session_owner(info, t->newstate, t->pid);
	if (owners && t->newstate == TCP_LISTEN)
		note_listener(t->sk, t->netns_ino, t->sport, t->pid);

	if (t->newstate == TCP_CLOSE && info->birth_ns) {
		if (info->iflags & OWNER_OF_LISTENER)
			adopt_listener_owner(info, t->netns_ino, t->sport);
		__u32 owner_pid = info->owner_pid ? info->owner_pid : t->pid;

		if (ports_pass(t->sport, t->dport) && pid_passes(owner_pid) && aggregate_session(t, delta_ns, alone)) {
			struct tcp_event event = {};

			fill_event(&event, t, delta_ns);
			__builtin_memcpy(event.owner_comm, info->owner_comm, TASK_COMM_LEN);
			event.tx_bytes = t->tp->bytes_acked;
			event.rx_bytes = t->tp->bytes_received;
			fill_tcp_info(&event.info, t->tp);
			output_event(ctx, &event, sizeof(event), alone);
		}
	}
	if (owners && t->newstate == TCP_CLOSE && t->oldstate == TCP_LISTEN)
		forget_listener(t->sk, t->netns_ino, t->sport);

	/* A session starts at its first transition into SYN_SENT, SYN_RECV or
	 * ESTABLISHED; listeners and sockets first seen while closing are not
	 * sessions (their start was missed). */
	if (!info->birth_ns && t->newstate < TCP_FIN_WAIT1)
		info->birth_ns = t->now_ns;
	settle(t);
}

/* Returns whether the transition was a redo of one already applied. */
static __always_inline bool on_set_state(void *ctx, struct sock *sk, int oldstate, int newstate, bool alone)
{
	struct transition t;
	enum verdict verdict = read_transition(&t, sk, oldstate, newstate);

	if (verdict == TRACE) {
		if (cfg.mode == TRACE_SESSIONS)
			tcplife_body(ctx, &t, alone);
		else
			tcpstates_body(ctx, &t, alone);
	}
	return verdict == REDO;
}

/* ---- the programs ---- */

/* The nesting cover (nesting.h), first half: note, then do the work. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct handled *ring = handled_ring();
	__u32 was_running = 1;

	if (ring)
		was_running = nesting_begin(ring, sk, (__u32)oldstate << 8 | (__u32)newstate);
	on_set_state(ctx, (struct sock *)sk, oldstate, newstate, !was_running);
	if (ring)
		ring->running = was_running;
	return 0;
}

/* The nesting cover, second half: the work only for a transition that
 * handle_set_state did not note (the kernel skipped it). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_set_state_nested, const struct sock *sk, int oldstate, int newstate)
{
	struct handled *ring = handled_ring();

	if (!ring)
		return 0;
	__u32 begun = ring->next;

	/* Counted only when it was not a redo: the loader weighs this count
	 * against the first program's skipped runs. */
	if (!nesting_was_handled(ring, sk, (__u32)oldstate << 8 | (__u32)newstate) &&
	    !on_set_state(ctx, (struct sock *)sk, oldstate, newstate, false))
		count(COUNTER_NESTED);
	/* The socket's entry goes once the redo check above is done with it. A
	 * run of this program that the kernel skips (a softirq interrupting it)
	 * leaves a zeroed entry, which the next socket at that address reuses. */
	if (newstate == TCP_CLOSE)
		forget_sock_info(sk);
	nesting_end(ring, begun);
	return 0;
}

/* tcplife's owner by use (owner.h). */
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

/* tcplife: a listener's waiters (owner.h, learn_waiter). Runs whenever any
 * socket has data to read (Linux 6.3 and later): only a TCP listener's, for a
 * child queued on it, goes further. */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(handle_data_ready, const struct sock *sk)
{
	if (sk->__sk_common.skc_state != TCP_LISTEN || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	learn_waiter(sk);
	return 0;
}

#include "open_sessions.h"

char LICENSE[] SEC("license") = "GPL";
