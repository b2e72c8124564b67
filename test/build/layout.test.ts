// SPDX-License-Identifier: MIT
// The TypeScript mirrors of bpf/tcpstates.h against the BTF of the compiled
// object: if the C struct changes and the decoder does not, this fails.
// A build test: it needs the compiled BPF object (clang) and bpftool, not
// root or the kernel, so it runs in `npm test` but not `npm run test:unit`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { BPF_OBJECT_PATH } from '../../src/bpf/loader.js';
import { CONFIG_LAYOUT, CONFIG_SIZE } from '../../src/bpf/config.js';
import { EVENT_LAYOUT, EVENT_SIZE, TRANSITION_EVENT_SIZE } from '../../src/decode/event.js';
import { AGG_SESSION_LAYOUT, AGG_SESSION_SIZE, AGG_TRANSITION_LAYOUT, AGG_TRANSITION_SIZE } from '../../src/decode/aggregates.js';
import { TCP_INFO_LAYOUT, TCP_INFO_SIZE } from '../../src/decode/tcp-info.js';
import { OPEN_SESSION_LAYOUT, OPEN_SESSION_SIZE } from '../../src/decode/open-record.js';

interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: { name: string; bits_offset: number }[];
  vars?: { size: number }[];
}

const types: BtfType[] = (
  JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', BPF_OBJECT_PATH], { encoding: 'utf8' })) as {
    types: BtfType[];
  }
).types;

function structLayout(name: string): { size: number; offsets: Record<string, number> } {
  const struct = types.find((type) => type.kind === 'STRUCT' && type.name === name);
  assert.ok(struct?.members, `struct ${name} is in the object's BTF`);
  const offsets: Record<string, number> = {};
  for (const member of struct.members) {
    assert.equal(member.bits_offset % 8, 0, `${name}.${member.name} is byte aligned`);
    offsets[member.name] = member.bits_offset / 8;
  }
  return { size: struct.size ?? -1, offsets };
}

/** struct `name` in the object's BTF has this size and exactly these members' offsets. */
function assertStruct(name: string, size: number, layout: Readonly<Record<string, number>>): void {
  const btf = structLayout(name);
  assert.equal(size, btf.size);
  assert.deepEqual({ ...layout }, btf.offsets);
}

test('EVENT_LAYOUT and EVENT_SIZE match struct tcp_event in the object BTF', () => {
  const btf = structLayout('tcp_event');
  assert.equal(EVENT_SIZE, btf.size);
  const { __pad: _pad, ...named } = btf.offsets;
  assert.deepEqual({ ...EVENT_LAYOUT }, named);
  assert.equal(TRANSITION_EVENT_SIZE, btf.offsets.tx_bytes, 'a transition record ends where the sessions tail starts');
});

test('TCP_INFO_LAYOUT and OPEN_SESSION_LAYOUT match struct session_tcp_info and struct open_session in the object BTF', () => {
  assertStruct('session_tcp_info', TCP_INFO_SIZE, TCP_INFO_LAYOUT);
  assertStruct('open_session', OPEN_SESSION_SIZE, OPEN_SESSION_LAYOUT);
});

test('CONFIG_LAYOUT and CONFIG_SIZE match struct tcpstates_config in the object BTF', () => {
  const btf = structLayout('tcpstates_config');
  assert.equal(CONFIG_SIZE, btf.size);
  const { __pad: _pad, ...named } = btf.offsets;
  assert.deepEqual({ ...CONFIG_LAYOUT }, named);
});

test('the aggregate maps\' values match struct agg_transition and struct agg_session in the object BTF', () => {
  assertStruct('agg_transition', AGG_TRANSITION_SIZE, AGG_TRANSITION_LAYOUT);
  assertStruct('agg_session', AGG_SESSION_SIZE, AGG_SESSION_LAYOUT);
});

test('the .rodata section holds the config and nothing else', () => {
  const rodata = types.find((type) => type.kind === 'DATASEC' && type.name === '.rodata');
  assert.deepEqual(rodata?.vars?.map((v) => v.size), [CONFIG_SIZE]);
});
