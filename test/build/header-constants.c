/* SPDX-License-Identifier: MIT */
/*
 * Prints the constants of bpf/tcpstates.h as one JSON object, for
 * test/build/constants.test.ts to compare with their TypeScript mirrors.
 * Built for the host with cc: the header is plain C with fixed-width types.
 */
#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include "tcpstates.h"

int main(void)
{
	printf("{\"TASK_COMM_LEN\":%d,", TASK_COMM_LEN);
	printf("\"TRACE_TRANSITIONS\":%d,\"TRACE_SESSIONS\":%d,", TRACE_TRANSITIONS, TRACE_SESSIONS);
	printf("\"FILTER_LPORT\":%u,\"FILTER_DPORT\":%u,\"FILTER_PID\":%u,\"FILTER_NETNS\":%u,\"FILTER_CGROUP\":%u,",
	       FILTER_LPORT, FILTER_DPORT, FILTER_PID, FILTER_NETNS, FILTER_CGROUP);
	printf("\"COUNTER_EMITTED\":%d,\"COUNTER_OUTPUT_FAILED\":%d,\"COUNTER_TRACKING_FAILED\":%d,", COUNTER_EMITTED,
	       COUNTER_OUTPUT_FAILED, COUNTER_TRACKING_FAILED);
	printf("\"COUNTER_LISTENER_FAILED\":%d,\"COUNTER_NESTED\":%d,\"COUNTER_EMITTED_NESTED\":%d,\"COUNTER_MAX\":%d,",
	       COUNTER_LISTENER_FAILED, COUNTER_NESTED, COUNTER_EMITTED_NESTED, COUNTER_MAX);
	printf("\"COUNTER_SEEDED\":%d,\"COUNTER_SEED_FAILED\":%d,\"COUNTER_SEED_FILES\":%d,\"COUNTER_SEED_FILES_REACHED\":%d,",
	       COUNTER_SEEDED, COUNTER_SEED_FAILED, COUNTER_SEED_FILES, COUNTER_SEED_FILES_REACHED);
	printf("\"TCP_EVENT_F_SEEDED\":%u,\"TCP_INFO_F_RTO\":%u,\"sizeof_session_tcp_info\":%zu,\"sizeof_open_session\":%zu,",
	       TCP_EVENT_F_SEEDED, TCP_INFO_F_RTO, sizeof(struct session_tcp_info), sizeof(struct open_session));
	printf("\"TCP_EVENT_F_PASSIVE\":%u,\"TCP_EVENT_TRANSITION_SIZE\":%d,", TCP_EVENT_F_PASSIVE, TCP_EVENT_TRANSITION_SIZE);
	printf("\"sizeof_tcp_event\":%zu,\"sizeof_tcpstates_config\":%zu,\"PORT_BITMAP_WORDS\":%d}\n",
	       sizeof(struct tcp_event), sizeof(struct tcpstates_config), PORT_BITMAP_WORDS);
	return 0;
}
