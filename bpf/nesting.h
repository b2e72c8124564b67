/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * nesting.h: the cover for the transitions the kernel skips.
 *
 * The kernel runs a tracing program at most once at a time per CPU: a
 * transition in a softirq that interrupts handle_set_state (a close() in a
 * syscall, say) would be skipped and only counted (recursion_misses); under
 * load that is tens to hundreds of transitions a second. So the same work is
 * attached twice:
 *
 *   handle_set_state         nesting_begin(): note the transition in a
 *                            per-CPU ring, then do the work
 *   handle_set_state_nested  attached after it, runs on every transition too;
 *                            nesting_was_handled(): the note is there (the
 *                            usual case), forget it and stop; it is not: the
 *                            kernel skipped handle_set_state for it, do the work
 *
 * Softirqs do not nest in softirqs and no transition runs in a hard
 * interrupt, so one level of nesting is all there is. A softirq with more
 * than HANDLED_SLOTS transitions can overwrite a note before
 * handle_set_state_nested looks for it: the redo is then recognised by the
 * socket's last applied transition (sock_info.last_states) and skipped.
 *
 * A softirq can also interrupt handle_set_state_nested itself. For its
 * transitions handle_set_state runs and notes them, but the kernel skips
 * handle_set_state_nested, so those notes would stay. A stale note passes
 * for a later transition of a socket at the same address, making the same
 * change, whose handle_set_state the kernel skipped: that transition would
 * be lost (reported as a skipped run). So handle_set_state_nested forgets,
 * as it ends, every note written since it began (nesting_end()).
 */
#ifndef __NESTING_H
#define __NESTING_H

/* The transitions handle_set_state began on this CPU, most recent last: a
 * small ring, as one run can be interrupted by a softirq's. */
#define HANDLED_SLOTS 4

struct transition_key {
	__u64 skaddr; /* 0: no note (never written, or used up) */
	__u32 states; /* oldstate << 8 | newstate */
	__u32 seq;    /* handled.next when written */
};

struct handled {
	struct transition_key slots[HANDLED_SLOTS];
	__u32 next;    /* notes written on this CPU, wrapping: the next one's slot and seq */
	__u32 running; /* handle_set_state is running on this CPU (see count_alone) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct handled);
} handled SEC(".maps");

static __always_inline struct handled *handled_ring(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&handled, &zero);
}

/* handle_set_state, before the work: notes the transition and marks this CPU
 * as running it. Returns whether another run was already under way here. */
static __always_inline __u32 nesting_begin(struct handled *ring, const struct sock *sk, __u32 states)
{
	__u32 seq = ring->next;
	__u32 slot = seq & (HANDLED_SLOTS - 1);
	__u32 was_running = ring->running;

	ring->slots[slot].skaddr = (__u64)sk;
	ring->slots[slot].states = states;
	ring->slots[slot].seq = seq;
	ring->next = seq + 1;
	ring->running = 1;
	return was_running;
}

/* handle_set_state_nested: did handle_set_state note this transition? If so,
 * the note is used up. */
static __always_inline bool nesting_was_handled(struct handled *ring, const struct sock *sk, __u32 states)
{
#pragma clang loop unroll(full)
	for (int i = 0; i < HANDLED_SLOTS; i++) {
		if (ring->slots[i].skaddr == (__u64)sk && ring->slots[i].states == states) {
			ring->slots[i].skaddr = 0;
			return true;
		}
	}
	return false;
}

/* handle_set_state_nested, as it ends: forgets the notes written since it
 * began (`begun`: handled.next then), whose own runs of it the kernel skips
 * as this one is running. */
static __always_inline void nesting_end(struct handled *ring, __u32 begun)
{
#pragma clang loop unroll(full)
	for (int i = 0; i < HANDLED_SLOTS; i++) {
		if ((__s32)(ring->slots[i].seq - begun) >= 0)
			ring->slots[i].skaddr = 0;
	}
}

#endif /* __NESTING_H */
