// SPDX-License-Identifier: MIT
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONFIG_LAYOUT, CONFIG_SIZE, encodeConfig, type TraceConfig } from '../../src/bpf/config.js';

const base: TraceConfig = { mode: 'transitions', localPorts: null, remotePorts: null, family: 0, pids: null, netnsIno: null, cgroup: null, bufferPages: 64 };

function portBit(bytes: Uint8Array, base: number, port: number): boolean {
  // The C side reads bits[port >> 6] >> (port & 63) of little-endian u64 words.
  const word = new DataView(bytes.buffer).getBigUint64(base + (port >> 6) * 8, true);
  return ((word >> BigInt(port & 63)) & 1n) === 1n;
}

test('no filters: all bitmaps empty, filters 0, mode and family set', () => {
  const bytes = encodeConfig({ ...base, mode: 'sessions', family: 10 });
  const view = new DataView(bytes.buffer);
  assert.equal(bytes.length, CONFIG_SIZE);
  assert.ok(bytes.subarray(0, CONFIG_LAYOUT.mode).every((b) => b === 0));
  assert.equal(view.getUint32(CONFIG_LAYOUT.mode, true), 1);
  assert.equal(view.getUint32(CONFIG_LAYOUT.filters, true), 0);
  assert.equal(view.getUint32(CONFIG_LAYOUT.target_family, true), 10);
});

test('port lists set exactly their bits, as the BPF side reads them', () => {
  const ports = [1, 63, 64, 80, 443, 65535];
  const bytes = encodeConfig({ ...base, localPorts: ports, remotePorts: [8080], pids: [1] });
  for (let port = 0; port < 65536; port++) {
    assert.equal(portBit(bytes, CONFIG_LAYOUT.lport_bits, port), ports.includes(port), `local ${port}`);
    assert.equal(portBit(bytes, CONFIG_LAYOUT.dport_bits, port), port === 8080, `remote ${port}`);
  }
  assert.equal(new DataView(bytes.buffer).getUint32(CONFIG_LAYOUT.filters, true), 0b111);
});

test('netns and cgroup filters set their bits and values', () => {
  const bytes = encodeConfig({ ...base, netnsIno: 4026531840, cgroup: { id: 2 ** 32 + 77, level: 3 } });
  const view = new DataView(bytes.buffer);
  assert.equal(view.getUint32(CONFIG_LAYOUT.filters, true), (1 << 3) | (1 << 4));
  assert.equal(view.getUint32(CONFIG_LAYOUT.netns_ino, true), 4026531840);
  assert.equal(view.getBigUint64(CONFIG_LAYOUT.cgroup_id, true), 2n ** 32n + 77n);
  assert.equal(view.getUint32(CONFIG_LAYOUT.cgroup_level, true), 3);
});

test('aggregation: the mode bits, and the metrics\' bucket bounds in ns for the kernel to compare with', async () => {
  const { AGGREGATE_BITS } = await import('../../src/bpf/config.js');
  const { DURATION_BUCKETS_SECONDS } = await import('../../src/metrics/exposition.js');
  const read = (config: TraceConfig): number => new DataView(encodeConfig(config).buffer).getUint32(CONFIG_LAYOUT.aggregate, true);
  assert.equal(read(base), 0, 'records only');
  assert.equal(read({ ...base, aggregate: { metrics: true, summary: false, records: false } }), AGGREGATE_BITS.AGGREGATE_METRICS | AGGREGATE_BITS.AGGREGATE_NO_RECORDS);
  assert.equal(read({ ...base, aggregate: { metrics: false, summary: true, records: true } }), AGGREGATE_BITS.AGGREGATE_SUMMARY);
  const view = new DataView(encodeConfig(base).buffer);
  const bounds = DURATION_BUCKETS_SECONDS.map((_, i) => view.getBigUint64(CONFIG_LAYOUT.duration_bounds_ns + i * 8, true));
  assert.deepEqual(bounds, [10_000n, 100_000n, 500_000n, 1_000_000n, 5_000_000n, 10_000_000n, 50_000_000n, 100_000_000n, 500_000_000n, 1_000_000_000n, 5_000_000_000n, 10_000_000_000n, 60_000_000_000n, 300_000_000_000n, 3_600_000_000_000n]);
});
