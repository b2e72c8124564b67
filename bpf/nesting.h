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
 */
#ifndef __NESTING_H
#define __NESTING_H

/* The transitions handle_set_state began on this CPU, most recent last: a
 * small ring, as one run can be interrupted by a softirq's. */
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

static __always_inline struct handled *handled_ring(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&handled, &zero);
}

/* handle_set_state, before the work: notes the transition and marks this CPU
 * as running it. Returns whether another run was already under way here. */
static __always_inline __u32 nesting_begin(struct handled *ring, const struct sock *sk, __u32 states)
{
	__u32 slot = ring->next & (HANDLED_SLOTS - 1);
	__u32 was_running = ring->running;

	ring->slots[slot].skaddr = (__u64)sk;
	ring->slots[slot].states = states;
	ring->next = slot + 1;
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

#endif /* __NESTING_H */
