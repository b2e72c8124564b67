/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * tcp_info.h: the tcp_info-like fields of a session (struct session_tcp_info,
 * bpf/tcpstates.h), read from its tcp_sock where the socket is read anyway:
 * at a session's CLOSE and in an open-session pass. Included by
 * tcpstates.bpf.c.
 */
#ifndef __TCPSTATES_TCP_INFO_H
#define __TCPSTATES_TCP_INFO_H

static __always_inline void fill_tcp_info(struct session_tcp_info *info, struct tcp_sock *tp)
{
	info->srtt_us = tp->srtt_us >> 3; /* the kernel keeps it scaled by 8 */
	info->total_retrans = tp->total_retrans;
	info->segs_in = tp->segs_in;
	info->segs_out = tp->segs_out;
	info->total_rto = 0;
	info->present = 0;
	/* total_rto came with Linux 6.7: on an older kernel CO-RE makes this
	 * branch dead and the verifier drops it. */
	if (bpf_core_field_exists(tp->total_rto)) {
		info->total_rto = tp->total_rto;
		info->present |= TCP_INFO_F_RTO;
	}
}

#endif /* __TCPSTATES_TCP_INFO_H */
