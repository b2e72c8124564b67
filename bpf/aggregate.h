/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * aggregate.h: the in-kernel aggregation of --metrics and --summary when no
 * row is printed (cfg.aggregate, AGGREGATE_* in tcpstates.h).
 *
 * Each event the program would emit is added into per-CPU maps instead: the
 * same counts, histograms and sums the per-event path makes in user space
 * (src/metrics/tcp-metrics.ts, src/track/summary.ts), from the same values,
 * so user space, summing the CPUs and the two writers at scrape and at exit,
 * renders exactly what the per-event path renders. Sums are whole ns and
 * bytes in u64.
 *
 * Included by the program after cfg, count() and struct transition; the maps
 * are sized to one cell by the loader when their mode is off.
 */
#ifndef __AGGREGATE_H
#define __AGGREGATE_H

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AGG_WRITERS * AGG_TRANSITION_CELLS);
	__type(key, __u32);
	__type(value, struct agg_transition);
} agg_transitions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AGG_WRITERS * AGG_SESSION_CELLS);
	__type(key, __u32);
	__type(value, struct agg_session);
} agg_sessions SEC(".maps");

/* tcplife: connects closed in SYN_SENT, at writer * AGG_ERRNOS + errno. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AGG_WRITERS * AGG_ERRNOS);
	__type(key, __u32);
	__type(value, __u64);
} agg_failures SEC(".maps");

/* tcpstates --summary: a count per SUMMARY_KEY, allocated as cells are first
 * used (a few hundred in practice). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AGG_SUMMARY_CELLS);
	__type(key, __u32);
	__type(value, __u64);
} agg_summary SEC(".maps");

/* The metrics' bucket of a duration: the first bound it does not exceed,
 * DURATION_BOUNDS (+Inf) above them all. */
static __always_inline __u32 duration_bucket(__u64 ns)
{
	__u32 bucket = DURATION_BOUNDS;

#pragma clang loop unroll(full)
	for (int i = DURATION_BOUNDS - 1; i >= 0; i--) {
		if (ns <= cfg.duration_bounds_ns[i])
			bucket = i;
	}
	return bucket;
}

static __always_inline __u32 floor_log2(__u64 value)
{
	__u32 exponent = 0;

#pragma clang loop unroll(full)
	for (int bits = 32; bits > 0; bits >>= 1) {
		if (value >> bits) {
			value >>= bits;
			exponent += bits;
		}
	}
	return exponent;
}

/* bucketIndex() of src/track/summary.ts. */
static __always_inline __u32 summary_bucket(__u64 us)
{
	const __u64 max_us = (2ull << SUMMARY_MAX_EXPONENT) - 1;
	const __u32 exact = 2 << SUMMARY_SUB_BITS;

	if (us > max_us)
		us = max_us;
	if (us < exact)
		return us;
	__u32 exponent = floor_log2(us);
	__u32 shift = exponent - SUMMARY_SUB_BITS;

	return exact + (exponent - SUMMARY_SUB_BITS - 1) * (1 << SUMMARY_SUB_BITS) + (__u32)((us >> shift) - (1 << SUMMARY_SUB_BITS));
}

static __always_inline void summary_add(__u32 writer, __u32 transition, __u64 us)
{
	__u32 key = SUMMARY_KEY(writer, transition, summary_bucket(us));
	__u64 *cell = bpf_map_lookup_elem(&agg_summary, &key);

	if (!cell) {
		__u64 zero = 0;

		bpf_map_update_elem(&agg_summary, &key, &zero, BPF_NOEXIST);
		cell = bpf_map_lookup_elem(&agg_summary, &key);
	}
	if (cell)
		*cell += 1;
	else
		count(COUNTER_AGGREGATE_FAILED);
}

static __always_inline void add_transition(int oldstate, int newstate, __u16 family, __u64 delta_ns, __u32 writer)
{
	if ((__u32)oldstate >= AGG_STATES || (__u32)newstate >= AGG_STATES) {
		count(COUNTER_AGGREGATE_FAILED);
		return;
	}
	__u32 transition = (__u32)oldstate * AGG_STATES + (__u32)newstate;
	__u32 index = writer * AGG_TRANSITION_CELLS + transition;
	struct agg_transition *cell = bpf_map_lookup_elem(&agg_transitions, &index);

	if (!cell)
		return;
	cell->by_family[family == AF_INET6 ? 1 : 0] += 1;
	/* delta 0 is the "first seen" mark: counted, not timed. */
	if (!delta_ns) {
		cell->first_seen += 1;
		return;
	}
	cell->buckets[duration_bucket(delta_ns)] += 1;
	cell->sum_ns += delta_ns;
	if (!(cfg.aggregate & AGGREGATE_SUMMARY))
		return;
	__u64 us = delta_ns / 1000;

	if (!cell->min_us_plus1 || us + 1 < cell->min_us_plus1)
		cell->min_us_plus1 = us + 1;
	if (us > cell->max_us)
		cell->max_us = us;
	summary_add(writer, transition, us);
}

static __always_inline void add_session(__u16 family, __u8 flags, __u64 tx_bytes, __u64 rx_bytes, __u64 delta_ns, int oldstate,
					__u16 sk_err, const struct session_tcp_info *info, __u32 writer)
{
	bool passive = flags & TCP_EVENT_F_PASSIVE;
	__u32 index = writer * AGG_SESSION_CELLS + (family == AF_INET6 ? 2 : 0) + (passive ? 1 : 0);
	struct agg_session *cell = bpf_map_lookup_elem(&agg_sessions, &index);

	if (cell) {
		cell->sessions += 1;
		cell->sent_bytes += tx_bytes;
		cell->received_bytes += rx_bytes;
		cell->buckets[duration_bucket(delta_ns)] += 1;
		cell->sum_ns += delta_ns;
		cell->retransmitted_segments += info->total_retrans;
		/* srtt 0: no RTT sample, left out as TcplifeMetrics.add leaves it. */
		if (info->srtt_us) {
			__u64 rtt_ns = (__u64)info->srtt_us * 1000;

			cell->rtt_buckets[duration_bucket(rtt_ns)] += 1;
			cell->rtt_sum_ns += rtt_ns;
		}
	}
	/* A connect that never got an answer it could use: CLOSE straight from SYN_SENT. */
	if (passive || oldstate != TCP_SYN_SENT)
		return;
	if (sk_err >= AGG_ERRNOS) {
		count(COUNTER_AGGREGATE_FAILED);
		return;
	}
	__u32 failure = writer * AGG_ERRNOS + sk_err;
	__u64 *failures = bpf_map_lookup_elem(&agg_failures, &failure);

	if (failures)
		*failures += 1;
}

/* Who owns a socket is shown only in records, and tcplife's -p filters on
 * it: without either, the bodies leave it (and the loader the owner-by-use
 * programs on all socket I/O) out. */
static __always_inline bool owners_needed(void)
{
	return !(cfg.aggregate & AGGREGATE_NO_RECORDS) || (cfg.mode == TRACE_SESSIONS && (cfg.filters & FILTER_PID));
}

/*
 * The tool bodies call these where they would emit a record: the event is
 * added up if cfg.aggregate says so, as TcpstatesMetrics.add and
 * TransitionSummary.add (tcpstates) or TcplifeMetrics.add (tcplife) count
 * it. They return whether a record is to be emitted as well.
 * alone: no other run of handle_set_state is under way on this CPU (writer 0).
 */
static __always_inline bool aggregate_transition(const struct transition *t, __u64 delta_ns, bool alone)
{
	if (!cfg.aggregate)
		return true;
	add_transition(t->oldstate, t->newstate, t->family, delta_ns, alone ? 0 : 1);
	return !(cfg.aggregate & AGGREGATE_NO_RECORDS);
}

static __always_inline bool aggregate_session(const struct transition *t, __u64 delta_ns, bool alone)
{
	if (!cfg.aggregate)
		return true;
	struct session_tcp_info info;

	/* The same reading as the record's (fill_tcp_info), so the sums match it. */
	fill_tcp_info(&info, t->tp);
	add_session(t->family, t->info->flags, t->tp->bytes_acked, t->tp->bytes_received, delta_ns, t->oldstate, t->sk->sk_err,
		    &info, alone ? 0 : 1);
	return !(cfg.aggregate & AGGREGATE_NO_RECORDS);
}

#endif /* __AGGREGATE_H */
