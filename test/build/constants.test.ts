// SPDX-License-Identifier: MIT
// Every constant that crosses the kernel/user boundary, checked against the
// C side: a small host program built from bpf/tcpstates.h (make probes) prints
// the header's constants (filter bits, trace modes, counter indexes,
// TASK_COMM_LEN, flag bits, sizes), and the compiled object's BTF gives the
// map limits the TypeScript side relies on. The event and config offsets
// are layout.test.ts's. A build test: it needs make, cc and bpftool, not root.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BPF_OBJECT_PATH, MAP_COUNTERS, MAP_PIDS, MAP_SK_INFO } from '../../src/bpf/loader.js';
import { COUNTER_INDEX } from '../../src/decode/counters.js';
import { AGGREGATE_BITS, CONFIG_SIZE, FILTER_BITS, MAX_SOCKETS_DEFAULT, TRACE_MODES } from '../../src/bpf/config.js';
import { MAP_AGG_FAILURES, MAP_AGG_SESSIONS, MAP_AGG_SUMMARY, MAP_AGG_TRANSITIONS } from '../../src/bpf/aggregate-maps.js';
import { AGGREGATE_LIMITS, summaryKeyParts } from '../../src/decode/aggregates.js';
import { DURATION_BUCKETS_SECONDS } from '../../src/metrics/exposition.js';
import { BUCKET_COUNT, MAX_EXPONENT, SUB_BITS } from '../../src/track/summary.js';
import { EVENT_FLAG_PASSIVE, EVENT_FLAG_SEEDED, EVENT_SIZE, TASK_COMM_LEN, TRANSITION_EVENT_SIZE } from '../../src/decode/event.js';
import { TCP_INFO_F_RTO, TCP_INFO_SIZE } from '../../src/decode/tcp-info.js';
import { OPEN_SESSION_SIZE } from '../../src/decode/open-record.js';
import { PID_LIST_MAX } from '../../src/cli/options.js';
import { make } from '../../harness/build.js';

function headerConstants(): Record<string, number> {
  const [probe] = make('dist/test/build/header-constants');
  return JSON.parse(execFileSync(probe!, { encoding: 'utf8' })) as Record<string, number>;
}

const C = headerConstants();

test('filter bits and trace modes match bpf/tcpstates.h', () => {
  for (const [name, value] of Object.entries(FILTER_BITS)) assert.equal(value, C[name], name);
  assert.equal(TRACE_MODES.transitions, C['TRACE_TRANSITIONS']);
  assert.equal(TRACE_MODES.sessions, C['TRACE_SESSIONS']);
});

test('counter indexes match enum counter_index', () => {
  for (const [name, value] of Object.entries(COUNTER_INDEX)) assert.equal(value, C[name], name);
});

test('TASK_COMM_LEN, the event flag bits and the record sizes match', () => {
  assert.equal(TASK_COMM_LEN, C['TASK_COMM_LEN']);
  assert.equal(EVENT_FLAG_PASSIVE, C['TCP_EVENT_F_PASSIVE']);
  assert.equal(TRANSITION_EVENT_SIZE, C['TCP_EVENT_TRANSITION_SIZE']);
  assert.equal(EVENT_SIZE, C['sizeof_tcp_event']);
  assert.equal(CONFIG_SIZE, C['sizeof_tcpstates_config']);
  assert.equal(EVENT_FLAG_SEEDED, C['TCP_EVENT_F_SEEDED']);
  assert.equal(TCP_INFO_F_RTO, C['TCP_INFO_F_RTO']);
  assert.equal(TCP_INFO_SIZE, C['sizeof_session_tcp_info']);
  assert.equal(OPEN_SESSION_SIZE, C['sizeof_open_session']);
});

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  type_id?: number;
  nr_elems?: number;
  members?: { name: string; type_id: number }[];
}

/** max_entries of a map in the object, as its BTF records it (__uint(max_entries, N)
 * is a pointer to an array of N elements). */
function mapMaxEntries(map: string): number {
  const types = (JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', BPF_OBJECT_PATH], { encoding: 'utf8' })) as { types: BtfType[] })
    .types;
  const byId = new Map(types.map((type) => [type.id, type]));
  const variable = types.find((type) => type.kind === 'VAR' && type.name === map);
  const definition = byId.get(variable?.type_id ?? -1);
  const member = definition?.members?.find((m) => m.name === 'max_entries');
  const array = byId.get(byId.get(member?.type_id ?? -1)?.type_id ?? -1);
  assert.ok(array?.kind === 'ARRAY', `map ${map} has max_entries in the BTF`);
  return array.nr_elems!;
}

test('map limits: the pids map holds PID_LIST_MAX entries, the counters map COUNTER_MAX, sk_info MAX_SOCKETS_DEFAULT', () => {
  assert.equal(mapMaxEntries(MAP_PIDS), PID_LIST_MAX);
  assert.equal(mapMaxEntries(MAP_COUNTERS), COUNTER_INDEX.COUNTER_MAX);
  assert.equal(mapMaxEntries(MAP_SK_INFO), MAX_SOCKETS_DEFAULT);
});

test('in-kernel aggregation: its bits, limits and bucket shapes match bpf/tcpstates.h', () => {
  for (const [name, value] of Object.entries(AGGREGATE_BITS)) assert.equal(value, C[name], name);
  for (const [name, value] of Object.entries(AGGREGATE_LIMITS)) assert.equal(value, C[name], name);
  // The metrics' bounds, their one definition, fill the config's array.
  assert.equal(DURATION_BUCKETS_SECONDS.length, C['DURATION_BOUNDS']);
  // --summary's log-linear buckets: the kernel's are the summary's.
  assert.equal(SUB_BITS, C['SUMMARY_SUB_BITS']);
  assert.equal(MAX_EXPONENT, C['SUMMARY_MAX_EXPONENT']);
  assert.equal(BUCKET_COUNT, C['SUMMARY_BUCKETS']);
  assert.deepEqual(summaryKeyParts(C['SUMMARY_KEY_1_2_3']!), { writer: 1, transition: 2, bucket: 3 });
});

test('map limits: the aggregate maps hold what AGGREGATE_LIMITS says', () => {
  const { AGG_WRITERS, AGG_TRANSITION_CELLS, AGG_SESSION_CELLS, AGG_ERRNOS, AGG_SUMMARY_CELLS } = AGGREGATE_LIMITS;
  assert.equal(mapMaxEntries(MAP_AGG_TRANSITIONS), AGG_WRITERS * AGG_TRANSITION_CELLS);
  assert.equal(mapMaxEntries(MAP_AGG_SESSIONS), AGG_WRITERS * AGG_SESSION_CELLS);
  assert.equal(mapMaxEntries(MAP_AGG_FAILURES), AGG_WRITERS * AGG_ERRNOS);
  assert.equal(mapMaxEntries(MAP_AGG_SUMMARY), AGG_SUMMARY_CELLS);
});
