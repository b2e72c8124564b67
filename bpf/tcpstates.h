/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * tcpstates.h: the one definition of what crosses the kernel/user boundary.
 *
 * Included by tcpstates.bpf.c; the TypeScript side (src/decode/event.ts,
 * src/bpf/config.ts, src/bpf/loader.ts) mirrors it: test/build/layout.test.ts
 * checks the struct layouts against the BTF of the compiled object, and
 * test/build/constants.test.ts the constants against a host build of this
 * header. Every field is fixed-width and naturally aligned, with no implicit
 * padding, so the layout is the same for clang -target bpf and for the host.
 */
#ifndef __TCPSTATES_H
#define __TCPSTATES_H

#define TASK_COMM_LEN 16

/* What the program emits: every transition, or one record per session at CLOSE. */
enum trace_mode {
	TRACE_TRANSITIONS = 0, /* tcpstates */
	TRACE_SESSIONS = 1,    /* tcplife */
};

/* Bits of tcpstates_config.filters. */
#define FILTER_LPORT (1u << 0)
#define FILTER_DPORT (1u << 1)
#define FILTER_PID (1u << 2)
#define FILTER_NETNS (1u << 3)  /* only sockets in network namespace netns_ino */
#define FILTER_CGROUP (1u << 4) /* only sockets in cgroup cgroup_id or below it */

/* Indexes of the per-CPU `counters` map. */
enum counter_index {
	COUNTER_EMITTED = 0,       /* bpf_perf_event_output succeeded, in a run of handle_set_state
				    * that no other run interrupted (counted without an atomic) */
	COUNTER_OUTPUT_FAILED = 1, /* bpf_perf_event_output failed: the ring was full */
	COUNTER_TRACKING_FAILED = 2, /* no entry for the socket in sk_info (full, or no memory): its MS/owner restart */
	COUNTER_LISTENER_FAILED = 3, /* the listeners map refused an insert (full): a child reset before
				      * accept() on that port may name the wrong owner */
	COUNTER_NESTED = 4, /* transitions handled by handle_set_state_nested: a run of
			     * handle_set_state that the kernel skipped (it was already
			     * running on that CPU, interrupted by a softirq) */
	COUNTER_EMITTED_NESTED = 5, /* bpf_perf_event_output succeeded in any other run (the
				     * nested program's; on kernels before 6.1 also a run that
				     * interrupted another): emitted = COUNTER_EMITTED + this */
	COUNTER_SEEDED = 6,      /* --existing: open sockets the seed gave storage (bpf/open_sessions.h) */
	COUNTER_SEED_FAILED = 7, /* --existing: open sockets the seed could not give storage (no memory,
				  * or optmem_max: they get no rows), or whose owner it could not note
				  * (file_owners full: no owner until one uses them) */
	COUNTER_SEED_FILES = 8,  /* --existing: TCP sockets found in processes' files */
	COUNTER_SEED_FILES_REACHED = 9, /* of those, found again in a namespace's TCP tables (the rest
					 * closed meanwhile, or are in a namespace the seed could not enter) */
	COUNTER_AGGREGATE_FAILED = 10, /* an event the aggregate maps could not count (a summary
					* cell the full hash refused, an errno >= AGG_ERRNOS) */
	COUNTER_MAX = 11,
};

/* Bits of tcp_event.flags. */
#define TCP_EVENT_F_PASSIVE (1u << 0) /* the socket began as a listener's child (a server-side session) */
#define TCP_EVENT_F_SEEDED (1u << 1)  /* --existing: the socket predates the trace; delta_ns counts from when
				       * the trace found it (tcplife: a lower bound of the lifespan) */

/* Bits of session_tcp_info.present: the fields this kernel's tcp_sock has. */
#define TCP_INFO_F_RTO (1u << 0) /* total_rto (Linux 6.7) */

/*
 * tcp_info-like fields read from the tcp_sock where the socket is read anyway
 * (a session's CLOSE, an open-session pass): nothing per packet.
 */
struct session_tcp_info {
	__u32 srtt_us;       /* smoothed RTT, us (tcp_sock.srtt_us >> 3); 0 = no sample yet */
	__u32 total_retrans; /* segments retransmitted over the connection's life */
	__u32 segs_in;       /* segments received (tcp_sock.segs_in) */
	__u32 segs_out;      /* segments sent (tcp_sock.segs_out) */
	__u32 total_rto;     /* retransmission timeouts, if TCP_INFO_F_RTO */
	__u32 present;       /* TCP_INFO_F_* */
};

/*
 * One record per emitted transition (tcpstates) or per closed session (tcplife).
 * The fields up to tx_bytes are common; the tail from tx_bytes on is filled and
 * emitted only in sessions mode: tcpstates emits the first
 * TCP_EVENT_TRANSITION_SIZE bytes, which keeps its records (and so the rings'
 * load at full rate) smaller.
 */
struct tcp_event {
	__u64 ts_ns;       /* bpf_ktime_get_ns() (CLOCK_MONOTONIC) at the transition */
	__u64 skaddr;      /* kernel address of the struct sock: an identity, never dereferenced */
	__u64 delta_ns;    /* transitions: ns spent in oldstate (0 = first transition seen);
			    * sessions: ns since the session's first transition seen */
	__u64 cgroup_id;   /* the socket's cgroup v2 id (its directory's inode number), 0 = unknown */
	__u32 pid;         /* tgid of the task on the CPU when the transition ran */
	__u32 netns_ino;   /* inode number of the socket's network namespace */
	__u8 saddr[16];    /* local address, network byte order; IPv4 uses the first 4 bytes */
	__u8 daddr[16];    /* remote address, same encoding */
	char comm[TASK_COMM_LEN]; /* comm of the task on the CPU, NUL-padded */
	__u16 family;      /* AF_INET (2) or AF_INET6 (10) */
	__u16 sport;       /* local port, host byte order (the tracepoint's ntohs'd value) */
	__u16 dport;       /* remote port, host byte order */
	__u8 oldstate;     /* TCP state number, include/net/tcp_states.h */
	__u8 newstate;
	__u16 sk_err;      /* sk->sk_err at the transition (a positive errno), 0 = none */
	__u8 flags;        /* TCP_EVENT_F_* */
	__u8 __pad;
	__u32 owner_pid;   /* tgid of the socket's owner as far as seen, 0 = unknown */
	/* sessions tail (tcplife only) */
	__u64 tx_bytes;    /* tcp_sock.bytes_acked */
	__u64 rx_bytes;    /* tcp_sock.bytes_received */
	char owner_comm[TASK_COMM_LEN]; /* comm of the owner, empty if unknown */
	struct session_tcp_info info; /* at CLOSE */
};

/* Bytes of a tcpstates (transitions mode) record: the common head. */
#define TCP_EVENT_TRANSITION_SIZE 104

_Static_assert(sizeof(struct tcp_event) == 160, "tcp_event size is part of the ABI");
_Static_assert(__builtin_offsetof(struct tcp_event, tx_bytes) == TCP_EVENT_TRANSITION_SIZE, "the sessions tail");
_Static_assert(__builtin_offsetof(struct tcp_event, ts_ns) == 0, "ts_ns");
_Static_assert(__builtin_offsetof(struct tcp_event, skaddr) == 8, "skaddr");
_Static_assert(__builtin_offsetof(struct tcp_event, delta_ns) == 16, "delta_ns");
_Static_assert(__builtin_offsetof(struct tcp_event, cgroup_id) == 24, "cgroup_id");
_Static_assert(__builtin_offsetof(struct tcp_event, pid) == 32, "pid");
_Static_assert(__builtin_offsetof(struct tcp_event, netns_ino) == 36, "netns_ino");
_Static_assert(__builtin_offsetof(struct tcp_event, saddr) == 40, "saddr");
_Static_assert(__builtin_offsetof(struct tcp_event, daddr) == 56, "daddr");
_Static_assert(__builtin_offsetof(struct tcp_event, comm) == 72, "comm");
_Static_assert(__builtin_offsetof(struct tcp_event, family) == 88, "family");
_Static_assert(__builtin_offsetof(struct tcp_event, sport) == 90, "sport");
_Static_assert(__builtin_offsetof(struct tcp_event, dport) == 92, "dport");
_Static_assert(__builtin_offsetof(struct tcp_event, oldstate) == 94, "oldstate");
_Static_assert(__builtin_offsetof(struct tcp_event, newstate) == 95, "newstate");
_Static_assert(__builtin_offsetof(struct tcp_event, sk_err) == 96, "sk_err");
_Static_assert(__builtin_offsetof(struct tcp_event, flags) == 98, "flags");
_Static_assert(__builtin_offsetof(struct tcp_event, owner_pid) == 100, "owner_pid");
_Static_assert(__builtin_offsetof(struct tcp_event, rx_bytes) == 112, "rx_bytes");
_Static_assert(__builtin_offsetof(struct tcp_event, owner_comm) == 120, "owner_comm");
_Static_assert(__builtin_offsetof(struct tcp_event, info) == 136, "info");
_Static_assert(sizeof(struct session_tcp_info) == 24, "session_tcp_info size is part of the ABI");

/*
 * One open session, as the dump iterator (dump_open_sessions,
 * bpf/open_sessions.h) writes it to the iterator's fd with bpf_seq_write:
 * every tracked socket that is a session (tcplife), read where it stands.
 */
struct open_session {
	__u64 skaddr;      /* kernel address of the struct sock (as tcp_event.skaddr) */
	__u64 seen_ns;     /* bpf_ktime_get_ns() of the session's first transition seen, or of
			    * the seed that found it (then flags has TCP_EVENT_F_SEEDED) */
	__u64 tx_bytes;    /* tcp_sock.bytes_acked, since the connection's start */
	__u64 rx_bytes;    /* tcp_sock.bytes_received */
	__u64 tx_reported; /* tx_bytes at the previous pass (or at the seed / 0 at the start) */
	__u64 rx_reported;
	__u64 cgroup_id;
	__u32 owner_pid;   /* 0 = unknown */
	__u32 netns_ino;
	__u8 saddr[16];
	__u8 daddr[16];
	char owner_comm[TASK_COMM_LEN];
	__u16 family;
	__u16 sport;
	__u16 dport;
	__u8 state;        /* TCP state number */
	__u8 flags;        /* TCP_EVENT_F_* */
	struct session_tcp_info info;
};

_Static_assert(sizeof(struct open_session) == 144, "open_session size is part of the ABI");
_Static_assert(__builtin_offsetof(struct open_session, owner_pid) == 56, "owner_pid");
_Static_assert(__builtin_offsetof(struct open_session, saddr) == 64, "saddr");
_Static_assert(__builtin_offsetof(struct open_session, owner_comm) == 96, "owner_comm");
_Static_assert(__builtin_offsetof(struct open_session, family) == 112, "family");
_Static_assert(__builtin_offsetof(struct open_session, info) == 120, "info");

#define PORT_BITMAP_WORDS (65536 / 64)
/* Bounds of the metrics' duration histograms; bucket DURATION_BOUNDS is +Inf. */
#define DURATION_BOUNDS 15

/*
 * Load-time configuration: the program's only .rodata, written by user space
 * between open and load (bpf_map__set_initial_value), so the verifier sees
 * the filters as constants and prunes the branches that are off.
 */
struct tcpstates_config {
	__u64 lport_bits[PORT_BITMAP_WORDS]; /* bit p set: local port p passes */
	__u64 dport_bits[PORT_BITMAP_WORDS]; /* bit p set: remote port p passes */
	__u32 mode;          /* enum trace_mode */
	__u32 filters;       /* FILTER_* bits; an unset bit means "all pass" */
	__u32 target_family; /* 0 = both, else AF_INET or AF_INET6 */
	__u32 netns_ino;     /* FILTER_NETNS: the namespace's inode number */
	__u64 cgroup_id;     /* FILTER_CGROUP: the cgroup v2 id (its directory's inode number) */
	__u32 cgroup_level;  /* FILTER_CGROUP: its depth below the root (the root is 0) */
	__u32 aggregate;     /* AGGREGATE_* bits; 0 = records only, as always */
	/* The metrics' histogram bounds in ns, ascending (encoded by
	 * src/bpf/config.ts from src/metrics/exposition.ts, their one definition). */
	__u64 duration_bounds_ns[DURATION_BOUNDS];
};

_Static_assert(sizeof(struct tcpstates_config) == 16536, "tcpstates_config size is part of the ABI");
_Static_assert(__builtin_offsetof(struct tcpstates_config, dport_bits) == 8192, "dport_bits");
_Static_assert(__builtin_offsetof(struct tcpstates_config, mode) == 16384, "mode");
_Static_assert(__builtin_offsetof(struct tcpstates_config, filters) == 16388, "filters");
_Static_assert(__builtin_offsetof(struct tcpstates_config, target_family) == 16392, "target_family");
_Static_assert(__builtin_offsetof(struct tcpstates_config, netns_ino) == 16396, "netns_ino");
_Static_assert(__builtin_offsetof(struct tcpstates_config, cgroup_id) == 16400, "cgroup_id");
_Static_assert(__builtin_offsetof(struct tcpstates_config, cgroup_level) == 16408, "cgroup_level");
_Static_assert(__builtin_offsetof(struct tcpstates_config, aggregate) == 16412, "aggregate");
_Static_assert(__builtin_offsetof(struct tcpstates_config, duration_bounds_ns) == 16416, "duration_bounds_ns");

/*
 * In-kernel aggregation (bpf/aggregate.h): when the tool prints no row
 * (--metrics without --json, --summary), the program adds each event into
 * per-CPU maps instead of emitting a record, and user space reads them (summed
 * over the CPUs) at scrape and at exit: nothing per event crosses to user
 * space, so nothing can be lost on the way.
 */
#define AGGREGATE_METRICS (1u << 0)    /* the --metrics series of the mode */
#define AGGREGATE_SUMMARY (1u << 1)    /* tcpstates --summary's log-linear histograms */
#define AGGREGATE_NO_RECORDS (1u << 2) /* and no record: nothing is emitted */

/* Every cell is kept twice, by writer: [0] for a run of handle_set_state alone
 * on its CPU, [1] for a run nested in one (see count_alone): each writer is
 * never interrupted by another run of its own kind, so neither needs an
 * atomic, and user space adds the two. */
#define AGG_WRITERS 2
/* Transitions between states below this (a transition is aggregated at index
 * oldstate * AGG_STATES + newstate); TCP has 13 (include/net/tcp_states.h). */
#define AGG_STATES 16
#define AGG_TRANSITION_CELLS (AGG_STATES * AGG_STATES)
/* tcplife: family (ipv4, ipv6) x role (client, server), index family * 2 + role. */
#define AGG_SESSION_CELLS 4
/* Connect failures, by the socket's errno (Linux's stop at 133). */
#define AGG_ERRNOS 256

/* tcpstates --summary: log-linear buckets of whole µs (src/track/summary.ts),
 * values below 2 << SUMMARY_SUB_BITS exact, then each power of two in
 * 1 << SUMMARY_SUB_BITS buckets, up to 2^(SUMMARY_MAX_EXPONENT + 1) - 1 µs. */
#define SUMMARY_SUB_BITS 5
#define SUMMARY_MAX_EXPONENT 52
#define SUMMARY_BUCKETS ((2 << SUMMARY_SUB_BITS) + (SUMMARY_MAX_EXPONENT - SUMMARY_SUB_BITS) * (1 << SUMMARY_SUB_BITS))
/* Cells of the summary's hash, one per (writer, transition, bucket) seen. */
#define AGG_SUMMARY_CELLS 65536
/* Its key: writer << 24 | (oldstate * AGG_STATES + newstate) << 16 | bucket. */
#define SUMMARY_KEY(writer, transition, bucket) ((__u32)(writer) << 24 | (__u32)(transition) << 16 | (__u32)(bucket))

/* tcpstates: one (oldstate, newstate) pair. */
struct agg_transition {
	__u64 by_family[2];  /* transitions: [ipv4, ipv6] */
	__u64 first_seen;    /* of those, first seen (delta_ns 0): not timed */
	__u64 buckets[DURATION_BOUNDS + 1]; /* timed ones by delta_ns, not cumulative */
	__u64 sum_ns;        /* their delta_ns, summed */
	__u64 min_us_plus1;  /* --summary: the least delta_ns / 1000, plus 1; 0 = none */
	__u64 max_us;        /* --summary: the greatest delta_ns / 1000 */
};

/* tcplife: one (family, role). */
struct agg_session {
	__u64 sessions;
	__u64 sent_bytes;     /* tx_bytes, summed */
	__u64 received_bytes; /* rx_bytes, summed */
	__u64 buckets[DURATION_BOUNDS + 1]; /* by delta_ns (the lifespan), not cumulative */
	__u64 sum_ns;
	__u64 retransmitted_segments; /* session_tcp_info.total_retrans at CLOSE, summed */
	__u64 rtt_buckets[DURATION_BOUNDS + 1]; /* by session_tcp_info.srtt_us * 1000 at CLOSE; none for 0 */
	__u64 rtt_sum_ns;
};

_Static_assert(sizeof(struct agg_transition) == 176, "agg_transition size");
_Static_assert(sizeof(struct agg_session) == 304, "agg_session size");
_Static_assert(SUMMARY_BUCKETS <= 0xffff, "a bucket fits the key's low 16 bits");

#endif /* __TCPSTATES_H */
