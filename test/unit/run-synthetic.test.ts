// SPDX-License-Identifier: MIT
// The whole path of a tool without root or kernel: its main, the options,
// the pipeline, runTracer, openTrace's steps and the tracer, over a libbpf
// that serves synthetic perf rings (RunDeps with preflight, libbpf, stdout
// and the process settings replaced). The rows must be the string
// renderer's rows of the rings' events, in time order; the object must be
// configured, loaded, attached and released as the kernel path does it.

import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { AGGREGATE_BITS, CONFIG_LAYOUT, encodeConfig, type TraceConfig } from '../../src/bpf/config.js';
import { COUNTER_INDEX } from '../../src/decode/counters.js';
import { MAP_COUNTERS, MAP_EVENTS, MAP_PIDS, MAP_RODATA, PROGRAM_DATA_READY, PROGRAM_RECV, PROGRAM_SEND, PROGRAM_SET_STATE, PROGRAM_SET_STATE_NESTED } from '../../src/bpf/loader.js';
import { DATA_READY_TRACEPOINT_TYPE, kernelBtfHasName } from '../../src/bpf/preflight.js';
import { main as tcplife } from '../../src/cli/tcplife.js';
import { main as tcpstates } from '../../src/cli/tcpstates.js';
import { EVENT_SIZE, EventView, TRANSITION_EVENT_SIZE, type TcpEvent } from '../../src/decode/event.js';
import type { Libbpf, LogBuffer, PerfRings, Pointer } from '../../src/ffi/libbpf.js';
import type { RowRenderer } from '../../src/format/columns.js';
import { ByteOutput } from '../../src/format/output.js';
import { tcplifeRenderer } from '../../src/format/tcplife.js';
import { tcpstatesRenderer } from '../../src/format/tcpstates.js';
import { Diagnostics } from '../../src/io/diagnostics.js';
import { Output } from '../../src/io/output.js';
import { EventBatch } from '../../src/reader/batch.js';
import { PerfReader } from '../../src/reader/perf-reader.js';
import { renderBatch } from '../../src/reader/render.js';
import { syntheticRings } from '../../src/reader/synthetic.js';
import { SYSTEM_CLOCK } from '../../src/trace/tracer.js';
import type { RunDeps } from '../../src/trace/run.js';
import { decodeEvent } from '../../harness/decode-event.js';

const EVENTS_PER_RING = 40;
const PROGRAM_NAMES = [PROGRAM_SET_STATE, PROGRAM_SET_STATE_NESTED, PROGRAM_SEND, PROGRAM_RECV, PROGRAM_DATA_READY];
/** sk_data_ready's program loads only where the kernel has the tracepoint. */
const DATA_READY_LOADS = kernelBtfHasName(DATA_READY_TRACEPOINT_TYPE);
const MAP_NAMES = [MAP_RODATA, MAP_EVENTS, MAP_COUNTERS, MAP_PIDS];

/** libbpf over synthetic rings: records what the loader asks of it. */
class SyntheticLibbpf implements Libbpf {
  rodata: Uint8Array | null = null;
  readonly autoload = new Map<string, boolean>();
  readonly attached: string[] = [];
  readonly pids: number[] = [];
  links = 0;
  objectClosed = false;
  ringPages = 0;
  private readonly rings: PerfRings & { readonly events: number };

  constructor(recordSize: number) {
    this.rings = syntheticRings(2, 1 << 16, recordSize, EVENTS_PER_RING);
  }
  get events(): number {
    return this.rings.events;
  }
  setPrint(): void {}
  openObject(): Pointer {
    return 1n;
  }
  closeObject(): void {
    this.objectClosed = true;
  }
  findMap(_object: Pointer, name: string): Pointer {
    return BigInt(100 + MAP_NAMES.indexOf(name));
  }
  findProgram(_object: Pointer, name: string): Pointer {
    const index = PROGRAM_NAMES.indexOf(name);
    // As libbpf: a program the object lacks is not found (the iterators here).
    if (index < 0) throw new Error(`no program ${name}`);
    return BigInt(200 + index);
  }
  programs(): Pointer[] {
    return PROGRAM_NAMES.map((_name, index) => BigInt(200 + index));
  }
  kernelBtfLoads(): boolean {
    return true;
  }
  setAutocreate(): void {}
  mapValueSize(): number {
    return encodeConfig({ mode: 'transitions', localPorts: null, remotePorts: null, family: 0, pids: null, netnsIno: null, cgroup: null, bufferPages: null })
      .length;
  }
  mapFd(map: Pointer): number {
    return Number(map);
  }
  setInitialValue(_map: Pointer, data: Uint8Array): void {
    this.rodata = data.slice();
  }
  setAutoload(program: Pointer, autoload: boolean): void {
    this.autoload.set(PROGRAM_NAMES[Number(program) - 200]!, autoload);
  }
  setLogBuffer(): LogBuffer {
    return { read: () => '', free: () => {} };
  }
  loadObject(): void {}
  programFd(program: Pointer): number {
    return Number(program);
  }
  attach(program: Pointer): Pointer {
    this.attached.push(PROGRAM_NAMES[Number(program) - 200]!);
    this.links++;
    return program;
  }
  destroyLink(): void {
    this.links--;
  }
  /** No iterator is asked for here: none may be attached. */
  attachIterator(): Pointer {
    throw new Error('no iterator expected');
  }
  createIterator(): number {
    throw new Error('no iterator expected');
  }
  openPerfRings(mapFd: number, pageCount: number): PerfRings {
    assert.equal(mapFd, 100 + MAP_NAMES.indexOf(MAP_EVENTS));
    this.ringPages = pageCount;
    return this.rings;
  }
  /** The counters: every event emitted (on CPU 0) into the rings, nothing lost. */
  lookup(mapFd: number, key: Uint8Array, value: Uint8Array): boolean {
    assert.equal(mapFd, 100 + MAP_NAMES.indexOf(MAP_COUNTERS));
    value.fill(0);
    // Emitted: only into rings (none when the kernel aggregates).
    if (new DataView(key.buffer).getUint32(0, true) === COUNTER_INDEX.COUNTER_EMITTED && this.ringPages > 0) {
      new DataView(value.buffer).setBigUint64(0, BigInt(this.rings.events), true);
    }
    return true;
  }
  /** The aggregate maps' sizes, as the loader sets them (one cell when unused). */
  readonly maxEntries = new Map<string, number>();
  setMaxEntries(map: Pointer, maxEntries: number): void {
    this.maxEntries.set(MAP_NAMES[Number(map) - 100] ?? String(map), maxEntries);
  }
  /** The aggregate maps: nothing counted. */
  lookupArray(_mapFd: number, _count: number, values: Uint8Array): void {
    values.fill(0);
  }
  nextKey(): boolean {
    return false;
  }
  update(mapFd: number, key: Uint8Array): void {
    assert.equal(mapFd, 100 + MAP_NAMES.indexOf(MAP_PIDS));
    this.pids.push(new DataView(key.buffer).getUint32(0, true));
  }
  objectInfo(): number {
    return 0;
  }
  /** Cannot tell: the loader then reads the kernel BTF's names, as DATA_READY_LOADS does. */
  rawTracepointExists(): null {
    return null;
  }
  possibleCpus(): number {
    return 2;
  }
  pageSize(): number {
    return 4096;
  }
}

/** The rows the string path (RowRenderer.row over decoded events) gives for
 * the same synthetic rings, in time order. */
function expectedRows(recordSize: number, renderer: RowRenderer<TcpEvent, EventView>): string {
  const reader = new PerfReader(syntheticRings(2, 1 << 16, recordSize, EVENTS_PER_RING));
  const out = new ByteOutput(1 << 16);
  const writeRow = (into: ByteOutput, event: EventView): void => {
    into.text(`${renderer.row(decodeEvent(event.view, event.offset, recordSize))}\n`);
  };
  renderBatch(reader, new EventBatch(recordSize), out, new EventView(), writeRow, Number.MAX_SAFE_INTEGER);
  return out.toString();
}

async function run(tool: typeof tcpstates, argv: string[], recordSize: number) {
  const libbpf = new SyntheticLibbpf(recordSize);
  let stdout = '';
  const output = new Output((bytes, offset, length) => {
    stdout += Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString();
    return length;
  });
  const deps: RunDeps = {
    preflight: () => {},
    libbpf: () => libbpf,
    output: () => output,
    clock: SYSTEM_CLOCK,
    process: { beforeLoad: () => {}, afterAttach: () => {}, stdoutHungUp: null },
  };
  const stderr: string[] = [];
  const code = await tool(['--duration', '0.05', ...argv], new Diagnostics('tool', (line) => stderr.push(line)), deps);
  return { code, stdout, stderr, libbpf };
}

const LAYOUT = { wide: false, csv: false, time: false, timestamp: false, wallClockOffsetMs: 0, colorizer: null };

test('tcpstates, the whole path over synthetic rings: header, every event a row in time order, the object released', async () => {
  const { code, stdout, stderr, libbpf } = await run(tcpstates, ['-p', '181,182', '-L', '80'], TRANSITION_EVENT_SIZE);
  assert.equal(code, 0);
  const renderer = tcpstatesRenderer(LAYOUT);
  assert.equal(stdout.split('\n').length, 1 + libbpf.events + 1, 'the header, a row per event, the last newline');
  assert.equal(stdout, `${renderer.header()}\n${expectedRows(TRANSITION_EVENT_SIZE, renderer)}`);
  assert.deepEqual(stderr, [`tool: ${libbpf.events} events read, 0 lost`]);
  const config: TraceConfig = { mode: 'transitions', localPorts: [80], remotePorts: null, family: 0, pids: [181, 182], netnsIno: null, cgroup: null, bufferPages: null };
  assert.deepEqual(libbpf.rodata, encodeConfig({ ...config, bufferPages: libbpf.ringPages }));
  assert.deepEqual(libbpf.pids, [181, 182]);
  assert.deepEqual(libbpf.attached, [PROGRAM_SET_STATE, PROGRAM_SET_STATE_NESTED]);
  assert.deepEqual([...libbpf.autoload], [[PROGRAM_SEND, false], [PROGRAM_RECV, false], [PROGRAM_DATA_READY, false]]);
  assert.equal(libbpf.links, 0, 'every link destroyed');
  assert.ok(libbpf.objectClosed);
});

test('tcplife, the whole path over synthetic rings: session rows with the owner programs attached', async () => {
  const { code, stdout, stderr, libbpf } = await run(tcplife, [], EVENT_SIZE);
  assert.equal(code, 0);
  const renderer = tcplifeRenderer(LAYOUT);
  assert.equal(stdout.split('\n').length, 1 + libbpf.events + 1);
  assert.equal(stdout, `${renderer.header()}\n${expectedRows(EVENT_SIZE, renderer)}`);
  assert.deepEqual(stderr, [`tool: ${libbpf.events} events read, 0 lost`]);
  assert.deepEqual(libbpf.attached, [PROGRAM_SET_STATE, PROGRAM_SET_STATE_NESTED, PROGRAM_SEND, PROGRAM_RECV, ...(DATA_READY_LOADS ? [PROGRAM_DATA_READY] : [])]);
  assert.equal(libbpf.links, 0);
  assert.ok(libbpf.objectClosed);
});

test('tcpstates --json over synthetic rings: one object per event, no header', async () => {
  const { code, stdout, libbpf } = await run(tcpstates, ['--json'], TRANSITION_EVENT_SIZE);
  assert.equal(code, 0);
  const objects = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { newstate: string });
  assert.equal(objects.length, libbpf.events);
  assert.ok(objects.every((object) => typeof object.newstate === 'string'));
});

/** The aggregate bits the tool configured (bpf/tcpstates.h AGGREGATE_*). */
function aggregateBits(libbpf: SyntheticLibbpf): number {
  assert.ok(libbpf.rodata !== null);
  return new DataView(libbpf.rodata.buffer, libbpf.rodata.byteOffset).getUint32(CONFIG_LAYOUT.aggregate, true);
}

test('no consumer needs the events: the kernel aggregates, no rings, no owner programs; else records', async () => {
  const { AGGREGATE_METRICS, AGGREGATE_SUMMARY, AGGREGATE_NO_RECORDS } = AGGREGATE_BITS;
  const life = await run(tcplife, ['--metrics', '0'], EVENT_SIZE);
  assert.equal(life.code, 0);
  assert.equal(aggregateBits(life.libbpf), AGGREGATE_METRICS | AGGREGATE_NO_RECORDS);
  assert.equal(life.libbpf.ringPages, 0, 'no perf rings');
  assert.deepEqual(life.libbpf.attached, [PROGRAM_SET_STATE, PROGRAM_SET_STATE_NESTED]);
  assert.equal(life.stderr.at(-1), 'tool: 0 events read, 0 lost');
  const summary = await run(tcpstates, ['--summary', '--metrics', '0'], TRANSITION_EVENT_SIZE);
  assert.equal(aggregateBits(summary.libbpf), AGGREGATE_METRICS | AGGREGATE_SUMMARY | AGGREGATE_NO_RECORDS);
  assert.equal(summary.stdout, 'no TCP state transitions seen\n');
  for (const argv of [['--metrics', '0', '--json'], ['--summary', '--count', '5'], []]) {
    const records = await run(tcpstates, argv, TRANSITION_EVENT_SIZE);
    assert.equal(aggregateBits(records.libbpf), 0, argv.join(' '));
    assert.ok(records.libbpf.ringPages > 0);
  }
  const lifeOwners = await run(tcplife, ['--metrics', '0', '-p', '181'], EVENT_SIZE);
  assert.deepEqual(lifeOwners.libbpf.attached, [PROGRAM_SET_STATE, PROGRAM_SET_STATE_NESTED, PROGRAM_SEND, PROGRAM_RECV, ...(DATA_READY_LOADS ? [PROGRAM_DATA_READY] : [])], '-p needs the owner');
});
