/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * open_sessions.h: sessions that are open now, with nothing per packet.
 * Included at the end of tcpstates.bpf.c (it uses its maps and filters).
 * Loaded only when an option asks (autoload off otherwise).
 *
 * --existing seeds the storage of every TCP socket open at start, after the
 * tracepoints are attached (so no transition falls between):
 *  - seed_from_files (iter/task_file + bpf_sock_from_file): every open file
 *    of every process, in every network namespace: which process holds
 *    which socket (file_owners);
 *  - seed_without_files (iter/tcp, one pass per network namespace): every
 *    TCP socket of the namespace gets its storage, its owner from the file
 *    walk, or for a child not yet accepted its listener's, or none for an
 *    orphan that is closing.
 * A seeded socket carries TCP_EVENT_F_SEEDED: its start was not seen, so
 * time counts from the seed.
 *
 * --interval: dump_open_sessions (iter/tcp, one pass per network namespace)
 * writes one struct open_session per session that carries our storage to
 * the iterator's fd (bpf_seq_write).
 */
#ifndef __TCPSTATES_OPEN_SESSIONS_H
#define __TCPSTATES_OPEN_SESSIONS_H

static __always_inline __u16 local_port(struct tcp_sock *tp)
{
	return bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
}

/* The filters the tracepoint applies before it tracks a socket. */
static __always_inline bool seed_in_scope(struct sock *sk, struct tcp_sock *tp, __u32 netns_ino)
{
	__u16 family = sk->__sk_common.skc_family;

	if (family != AF_INET && family != AF_INET6)
		return false;
	if (cfg.target_family && family != cfg.target_family)
		return false;
	if (!sock_in_scope(sk, netns_ino))
		return false;
	/* tcpstates tracks only sockets on the traced ports (on_set_state). */
	if (cfg.mode == TRACE_TRANSITIONS)
		return ports_pass(local_port(tp), bpf_ntohs(sk->__sk_common.skc_dport));
	return true;
}

/*
 * Gives an open socket its storage, as if its first transition had been seen
 * now, unless the tracepoint got there first. Returns the storage (NULL: out
 * of scope, closed, or no memory), so the caller can name an owner.
 */
static __always_inline struct sock_info *seed(struct sock *sk, struct tcp_sock *tp)
{
	__u8 state = sk->__sk_common.skc_state;
	/* CLOSE: never connected, or done; nothing to follow. */
	if (state == TCP_CLOSE)
		return NULL;
	__u32 netns_ino = sk->__sk_common.skc_net.net->ns.inum;
	if (!seed_in_scope(sk, tp, netns_ino))
		return NULL;

	struct sock_info *info = info_of(sk, true);
	if (!info) {
		count(COUNTER_SEED_FAILED);
		return NULL;
	}
	__u64 now_ns = bpf_ktime_get_ns();
	bool seeded = false;

	if (!info->last_ns) {
		info->last_ns = now_ns;
		seeded = true;
	}
	/* tcplife: a session from here on. A socket whose first transition
	 * the tracepoint saw between attach and seed (into FIN_WAIT1, say) is
	 * one that predates the trace too. Listeners are not sessions. */
	if (cfg.mode == TRACE_SESSIONS && !info->birth_ns && state != TCP_LISTEN) {
		info->birth_ns = info->last_ns;
		seeded = true;
	}
	if (seeded) {
		info->flags |= TCP_EVENT_F_SEEDED;
		/* The first pass reports what moved since the trace found it. */
		info->tx_reported = tp->bytes_acked;
		info->rx_reported = tp->bytes_received;
		count(COUNTER_SEEDED);
	}
	return info;
}

/* tcplife: a listener found by the seed names the owner of its children. */
static __always_inline void seed_listener(struct sock *sk, struct tcp_sock *tp, struct sock_info *info)
{
	if (cfg.mode != TRACE_SESSIONS || sk->__sk_common.skc_state != TCP_LISTEN || !info->owner_pid)
		return;
	__u32 netns_ino = sk->__sk_common.skc_net.net->ns.inum;
	struct listener_key key = listener_key_of(netns_ino, local_port(tp));
	struct owner listener = { .pid = info->owner_pid, .listener_skaddr = (__u64)sk };

	__builtin_memcpy(listener.comm, info->owner_comm, TASK_COMM_LEN);
	/* BPF_NOEXIST: one learnt since the attach is newer. */
	if (bpf_map_update_elem(&listeners, &key, &listener, BPF_NOEXIST) && !bpf_map_lookup_elem(&listeners, &key))
		count(COUNTER_LISTENER_FAILED);
}

/*
 * Sockets found in files, for seed_without_files to seed with their owner:
 * the socket a file holds is an untrusted pointer to the verifier, which
 * refuses it to bpf_sk_storage_get(), while iter/tcp hands out trusted ones.
 * Sized by the loader (1 entry unless --existing); an entry is deleted once
 * used, so what is left after the passes was not reached.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64); /* the struct sock's address */
	__type(value, struct owner);
} file_owners SEC(".maps");

SEC("iter/task_file")
int seed_from_files(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct task_struct *task = ctx->task;

	if (!file || !task)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	/* TCP stream sockets (not raw, not MPTCP's) in a state the TCP tables
	 * hold: bpf_skc_to_tcp_sock's test, by hand (it refuses this pointer). */
	if (!sk || sk->sk_protocol != IPPROTO_TCP || sk->sk_type != SOCK_STREAM || sk->__sk_common.skc_state == TCP_CLOSE)
		return 0;
	__u64 key = (__u64)sk;
	/* The first process found holding it (a fork's parent comes first);
	 * owner by use corrects it once a process sends or receives. */
	struct owner owner = { .pid = task->tgid };

	bpf_probe_read_kernel(owner.comm, TASK_COMM_LEN, BPF_CORE_READ(task, group_leader)->comm);
	if (!bpf_map_update_elem(&file_owners, &key, &owner, BPF_NOEXIST))
		count(COUNTER_SEED_FILES);
	else if (!bpf_map_lookup_elem(&file_owners, &key))
		count(COUNTER_SEED_FAILED); /* the map is full: seeded without its owner */
	return 0;
}

/* The full TCP socket an iter/tcp visit is at; NULL for request and
 * TIME_WAIT sockets: not sessions we can follow (a request's child is traced
 * when the handshake completes). */
static __always_inline struct tcp_sock *visited_tcp_sock(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	return skc ? bpf_skc_to_tcp_sock(skc) : NULL;
}

SEC("iter/tcp")
int seed_without_files(struct bpf_iter__tcp *ctx)
{
	struct tcp_sock *tp = visited_tcp_sock(ctx);
	if (!tp)
		return 0;
	struct sock *sk = (struct sock *)tp;
	__u64 key = (__u64)sk;
	struct owner *from_file = bpf_map_lookup_elem(&file_owners, &key);
	struct owner owner = {};

	if (from_file) {
		owner = *from_file;
		bpf_map_delete_elem(&file_owners, &key);
		count(COUNTER_SEED_FILES_REACHED);
	}
	struct sock_info *info = seed(sk, tp);
	if (!info)
		return 0;
	if (!info->owner_pid && owner.pid) {
		info->owner_pid = owner.pid;
		__builtin_memcpy(info->owner_comm, owner.comm, TASK_COMM_LEN);
	}
	seed_listener(sk, tp, info);
	if (info->owner_pid || cfg.mode != TRACE_SESSIONS || sk->__sk_common.skc_state == TCP_LISTEN)
		return 0;
	/* No file: a child not yet accepted belongs to its listener's owner. */
	struct listener_key lkey = listener_key_of(sk->__sk_common.skc_net.net->ns.inum, local_port(tp));
	struct owner *listener = bpf_map_lookup_elem(&listeners, &lkey);

	if (listener) {
		info->owner_pid = listener->pid;
		__builtin_memcpy(info->owner_comm, listener->comm, TASK_COMM_LEN);
		info->flags |= TCP_EVENT_F_PASSIVE;
	}
	return 0;
}

/* Not inlined on purpose (as output_event): as a subprogram's parameter,
 * struct open_session is described in the object's BTF, which
 * test/build/layout.test.ts checks the TypeScript decoder against. */
static __noinline int write_open_session(struct seq_file *seq, struct open_session *session)
{
	return bpf_seq_write(seq, session, sizeof(*session));
}

/*
 * The open-session pass: iter/tcp again, one instance per network namespace,
 * and a record for each socket that carries a session's storage. (The
 * iterator over the storage map itself, iter/bpf_sk_storage_map, would visit
 * only those sockets in every namespace at once, but kernels may refuse to
 * load it: this project's test kernel answers EPERM.) iter/tcp holds each
 * socket's lock (Linux 5.15+) while the program reads it.
 */
SEC("iter/tcp")
int dump_open_sessions(struct bpf_iter__tcp *ctx)
{
	struct tcp_sock *tp = visited_tcp_sock(ctx);
	if (!tp)
		return 0;
	struct sock *sk = (struct sock *)tp;
	struct sock_info *info = info_of(sk, false);

	/* Sessions only: not listeners, not closed (storage is zeroed at CLOSE). */
	if (!info || !info->birth_ns)
		return 0;
	__u16 sport = local_port(tp);
	__u16 dport = bpf_ntohs(sk->__sk_common.skc_dport);
	/* tcplife's row filters, on the owner (-p) as at CLOSE. */
	if (!ports_pass(sport, dport) || !pid_passes(info->owner_pid))
		return 0;

	struct open_session session = {};

	session.skaddr = (__u64)sk;
	session.seen_ns = info->birth_ns;
	session.tx_bytes = tp->bytes_acked;
	session.rx_bytes = tp->bytes_received;
	session.tx_reported = info->tx_reported;
	session.rx_reported = info->rx_reported;
	session.cgroup_id = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	session.owner_pid = info->owner_pid;
	session.netns_ino = sk->__sk_common.skc_net.net->ns.inum;
	session.family = sk->__sk_common.skc_family;
	session.sport = sport;
	session.dport = dport;
	session.state = sk->__sk_common.skc_state;
	session.flags = info->flags;
	__builtin_memcpy(session.owner_comm, info->owner_comm, TASK_COMM_LEN);
	fill_addresses(session.saddr, session.daddr, session.family, sk, tp);
	fill_tcp_info(&session.info, tp);
	/* Written: the next pass's deltas start here. On a full buffer the
	 * kernel shows this socket again in the next read(): nothing moves. */
	if (!write_open_session(ctx->meta->seq, &session)) {
		info->tx_reported = session.tx_bytes;
		info->rx_reported = session.rx_bytes;
	}
	return 0;
}

#endif /* __TCPSTATES_OPEN_SESSIONS_H */
