/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * owner.h: who owns a socket, as far as the kernel side can see.
 *
 * tcpstates: the caller of connect(), listen() or close() (transition_owner).
 * tcplife: the process that last *used* the session (claim(), from the send
 * and receive tracepoints); a listener's child that no process used or
 * closed is owned by the listening port's owner (the `listeners` map), a
 * process holding the listener: the one found waiting on it when a child was
 * queued (learn_waiter()), else the one seen serving a child
 * (learn_accepter()), else the caller of listen().
 *
 * Part of tcpstates.bpf.c: included after its struct sock_info, its sk_info
 * map and count().
 */
#ifndef __OWNER_H
#define __OWNER_H

/* Listening ports (per network namespace) whose owner we remember. A plain
 * hash allocated on demand: a host with tens of thousands of listening ports
 * across containers fits; an insert it refuses is counted
 * (COUNTER_LISTENER_FAILED) and reported. */
#define MAX_LISTEN_PORTS 131072

/* sock_info.iflags: what we know about the owner. */
#define OWNER_BY_USE (1u << 0) /* owner_pid connected, sent or received on it */
#define OWNER_OF_LISTENER (1u << 1) /* owner_pid is the listening port's owner, as adopted */

/* from include/linux/sched.h */
#define PF_KTHREAD 0x00200000

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

static __always_inline void remember_owner(struct sock_info *info, __u32 pid)
{
	info->iflags &= ~OWNER_OF_LISTENER;
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
 * send, receive: see claim()). listen() names the listener's owner. A close
 * (FIN_WAIT1, LAST_ACK) names the closer only while no use was seen (an
 * accept-then-close), so a fork child that only drops the last reference to
 * an inherited socket does not replace the process that used it.
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

/* A child of a listener: provisionally owned by the listening port's owner,
 * until a process uses or closes it. Adopted when it is born, and again when
 * it closes unused (the port's owner may have been learnt since: the child is
 * born before the listener's waiters are woken for it, see learn_waiter). */
static __always_inline void adopt_listener_owner(struct sock_info *info, __u32 netns_ino, __u16 port)
{
	struct listener_key key = listener_key_of(netns_ino, port);
	struct owner *listener = bpf_map_lookup_elem(&listeners, &key);

	info->iflags |= OWNER_OF_LISTENER;
	if (listener) {
		info->owner_pid = listener->pid;
		__builtin_memcpy(info->owner_comm, listener->comm, TASK_COMM_LEN);
	}
}

/* The port's owner becomes `learnt`; an entry made here is the listener's own. */
static __always_inline void set_listener_owner(const struct sock *listener_sk, __u32 netns_ino, __u16 port, struct owner *learnt)
{
	struct listener_key key = listener_key_of(netns_ino, port);
	struct owner *listener = bpf_map_lookup_elem(&listeners, &key);

	if (listener) {
		/* In place: one entry per port, written by whoever serves it. */
		if (listener->pid != learnt->pid) {
			listener->pid = learnt->pid;
			__builtin_memcpy(listener->comm, learnt->comm, TASK_COMM_LEN);
		}
		return;
	}
	learnt->listener_skaddr = (__u64)listener_sk;
	if (bpf_map_update_elem(&listeners, &key, learnt, BPF_NOEXIST))
		count(COUNTER_LISTENER_FAILED);
}

/* listen(): the caller owns the port until a process is seen accepting on it. */
static __always_inline void note_listener(const struct sock *sk, __u32 netns_ino, __u16 port, __u32 pid)
{
	struct listener_key key = listener_key_of(netns_ino, port);
	struct owner listener = { .pid = pid, .listener_skaddr = (__u64)sk };

	bpf_get_current_comm(listener.comm, sizeof(listener.comm));
	if (bpf_map_update_elem(&listeners, &key, &listener, BPF_ANY))
		count(COUNTER_LISTENER_FAILED);
}

/* A listener closed: forget only its own entry (SO_REUSEPORT: others may
 * share the port), or one learnt from a child's user, which may have
 * accepted on it. */
static __always_inline void forget_listener(const struct sock *sk, __u32 netns_ino, __u16 port)
{
	struct listener_key key = listener_key_of(netns_ino, port);
	struct owner *listener = bpf_map_lookup_elem(&listeners, &key);

	if (listener && (listener->listener_skaddr == (__u64)sk || !listener->listener_skaddr))
		bpf_map_delete_elem(&listeners, &key);
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
	 * read_transition), some 3 ms of load time for each of the two
	 * programs. */
	struct task_struct *task = bpf_get_current_task_btf();
	__u32 netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	struct owner learnt = {};

	if (BPF_CORE_READ(task, group_leader, start_time) > info->birth_ns) {
		struct task_struct *parent = BPF_CORE_READ(task, group_leader, real_parent);

		learnt.pid = BPF_CORE_READ(parent, tgid);
		bpf_core_read(learnt.comm, TASK_COMM_LEN, &parent->comm);
	} else {
		learnt.pid = pid;
		__builtin_memcpy(learnt.comm, info->owner_comm, TASK_COMM_LEN);
	}
	/* Not the listener's own entry: it is not known from here. */
	set_listener_owner(NULL, netns_ino, bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport), &learnt);
}

/* from include/linux/wait.h */
#define WQ_FLAG_EXCLUSIVE 0x01
/* Entries looked at on a listener's wait queue, and on an epoll set's. */
#define WAITERS_MAX 4

/*
 * CO-RE relocates each field read against the running kernel's types, and
 * libbpf searches the kernel BTF once for each type a read starts from: the
 * reads below start from as few types as they can (socket_wq, eventpoll,
 * wait_queue_entry, eppoll_entry, epitem), each search costing load time.
 */

/* The entry of a wait queue whose list node is at `node`. */
static __always_inline struct wait_queue_entry *wait_entry_of(struct list_head *node)
{
	return (void *)node - bpf_core_field_offset(struct wait_queue_entry, entry);
}

/* `task` read from a wait entry's private field, if it is a thread: a
 * private that is not a task (poll's, io_uring's) fails the check that the
 * task's group leader has its tgid. */
static __always_inline bool waiter_task(struct task_struct *task, struct owner *found)
{
	if (!task)
		return false;
	__u32 tgid = BPF_CORE_READ(task, tgid);
	if (!tgid || BPF_CORE_READ(task, group_leader, tgid) != tgid)
		return false;
	found->pid = tgid;
	bpf_core_read(found->comm, TASK_COMM_LEN, &task->comm);
	return true;
}

/* The first thread asleep in epoll_wait() on the epoll set whose entry on a
 * listener's queue is `entry` (the listener's head is `listener_wait`). */
static __always_inline bool epoll_waiter(struct wait_queue_entry *entry, void *listener_wait, struct owner *found)
{
	struct eppoll_entry *pwq = (void *)entry - bpf_core_field_offset(struct eppoll_entry, wait);

	/* Another kind of entry with no private (aio's) fails this. */
	if (BPF_CORE_READ(pwq, whead) != listener_wait)
		return false;
	struct eventpoll *ep = BPF_CORE_READ(pwq, base, ep);
	void *end = (void *)ep + bpf_core_field_offset(struct eventpoll, wq.head);
	struct list_head *node = BPF_CORE_READ(ep, wq.head.next);

	/* epoll_wait() sleeps as an exclusive entry whose private is the task. */
	return node && (void *)node != end && waiter_task(BPF_CORE_READ(wait_entry_of(node), private), found);
}

/* The thread the kernel is about to wake for a child queued on `listener_sk`:
 * the first one asleep on its wait queue in accept() (an exclusive entry
 * whose private is the task) or in epoll_wait() on a set that holds it. Read
 * with probe reads: the queue is walked without its lock, and a waiter may be
 * leaving it; what is read is checked before it is believed. */
static __always_inline bool listener_waiter(const struct sock *listener_sk, struct owner *found)
{
	struct socket_wq *wq = BPF_CORE_READ(listener_sk, sk_wq);
	if (!wq)
		return false;
	void *wait = (void *)wq + bpf_core_field_offset(struct socket_wq, wait);
	void *end = (void *)wq + bpf_core_field_offset(struct socket_wq, wait.head);
	struct list_head *node = BPF_CORE_READ(wq, wait.head.next);

	for (int i = 0; i < WAITERS_MAX && node && (void *)node != end; i++) {
		struct wait_queue_entry *entry = wait_entry_of(node);
		void *private = BPF_CORE_READ(entry, private);

		if (private && (BPF_CORE_READ(entry, flags) & WQ_FLAG_EXCLUSIVE)) {
			if (waiter_task(private, found))
				return true;
		} else if (!private && epoll_waiter(entry, wait, found)) {
			return true;
		}
		node = BPF_CORE_READ(entry, entry.next);
	}
	return false;
}

/*
 * A child was queued on a listener, which is about to wake its waiters: the
 * thread it will wake holds the listening socket, and owns the port now. A
 * process that called listen() and left the accepting to a child it forked
 * (and closed its own copy) is so replaced by that child before any session
 * of the port closes.
 */
static __always_inline void learn_waiter(const struct sock *listener_sk)
{
	struct owner found = {};

	if (!listener_waiter(listener_sk, &found))
		return;
	set_listener_owner(listener_sk, BPF_CORE_READ(listener_sk, __sk_common.skc_net.net, ns.inum),
			   BPF_CORE_READ(listener_sk, __sk_common.skc_num), &found);
}

/* Owner by use: the process sending or receiving on a session owns it.
 * Runs at the end of every sock_sendmsg/sock_recvmsg (process context). */
static __always_inline void claim(struct sock *sk)
{
	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return;
	/* No create: a socket with no transition seen is not a session of ours
	 * (it predates the trace, or is a listener's). */
	struct sock_info *info = info_of(sk, false);
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

#endif /* __OWNER_H */
