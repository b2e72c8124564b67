// SPDX-License-Identifier: MIT
// Unit tests of the --summary aggregation (src/track/summary.ts) and its
// rendering (src/format/summary.ts): bucket arithmetic, percentile accuracy
// against exact percentiles, first-seen handling, the table, and the log2
// histogram layout against output of bcc's print_log2_hist algorithm.

import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  BUCKET_COUNT,
  DurationHistogram,
  PERCENTILE_RELATIVE_ERROR,
  TransitionSummary,
  bucketIndex,
  bucketRange,
  log2Slot,
} from '../../src/track/summary.js';
import {
  SUMMARY_HEAD,
  renderLog2Histogram,
  renderStateHistograms,
  renderSummaryTable,
  stateHistogramJson,
  transitionSummaryJson,
} from '../../src/format/summary.js';

/** Deterministic pseudo-random integers (an LCG), spread over magnitudes. */
function* durations(count: number, seed = 12345): Generator<number> {
  let state = seed;
  for (let i = 0; i < count; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    const magnitude = state % 31; // up to 2^30 µs, about 18 minutes
    state = (state * 1103515245 + 12345) % 2 ** 31;
    yield Math.floor((state / 2 ** 31) * 2 ** magnitude);
  }
}

function exactPercentile(sorted: readonly number[], percent: number): number {
  return sorted[Math.max(1, Math.ceil((percent / 100) * sorted.length)) - 1]!;
}

describe('buckets', () => {
  it('are exact below 64 µs and at most 1/32 of the value wide above', () => {
    for (let value = 0; value < 64; value++) assert.deepEqual(bucketRange(bucketIndex(value)), { lowUs: value, widthUs: 1 });
    for (const value of [64, 65, 127, 128, 1000, 65_535, 65_536, 1_000_000, 2 ** 40 + 12345, 2 ** 53 - 1]) {
      const { lowUs, widthUs } = bucketRange(bucketIndex(value));
      assert.ok(lowUs <= value && value < lowUs + widthUs, `${value} in [${lowUs}, ${lowUs + widthUs})`);
      assert.ok(widthUs <= lowUs / 32, `bucket of ${value} is ${widthUs} wide at ${lowUs}`);
    }
  });

  it('are contiguous and ordered, and fixed in number', () => {
    assert.equal(BUCKET_COUNT, 1568);
    for (let index = 1; index < BUCKET_COUNT; index++) {
      const previous = bucketRange(index - 1);
      assert.equal(bucketRange(index).lowUs, previous.lowUs + previous.widthUs, `bucket ${index}`);
    }
    assert.equal(bucketIndex(2 ** 53 - 1), BUCKET_COUNT - 1);
    assert.equal(bucketIndex(2 ** 60), BUCKET_COUNT - 1, 'larger values are clamped, not out of range');
  });

  it('never straddle a power of two, so log2 slots are sums of buckets', () => {
    for (let index = 0; index < BUCKET_COUNT; index++) {
      const { lowUs, widthUs } = bucketRange(index);
      assert.equal(log2Slot(lowUs), log2Slot(lowUs + widthUs - 1), `bucket ${index}`);
    }
  });

  it('log2Slot matches bcc: slot 1 is 0..1, slot i is 2^(i-1)..2^i-1', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 7, 8, 1023, 1024, 2 ** 32].map(log2Slot), [1, 1, 2, 2, 3, 3, 4, 10, 11, 33]);
  });
});

describe('DurationHistogram', () => {
  it('is empty at first: no percentiles, no max', () => {
    const histogram = new DurationHistogram();
    assert.equal(histogram.count, 0);
    assert.equal(histogram.percentile(50), null);
    assert.equal(histogram.max, null);
    assert.deepEqual(histogram.log2Counts(), []);
  });

  it('gives exact percentiles for small values', () => {
    const histogram = new DurationHistogram();
    for (let us = 1; us <= 60; us++) histogram.record(us);
    assert.equal(histogram.percentile(50), 30);
    assert.equal(histogram.percentile(90), 54);
    assert.equal(histogram.percentile(99), 60);
    assert.equal(histogram.percentile(100), 60);
    assert.equal(histogram.max, 60);
  });

  it(`stays within ${PERCENTILE_RELATIVE_ERROR * 100} % of exact percentiles; max is exact`, () => {
    const values = [...durations(20_000)];
    const histogram = new DurationHistogram();
    for (const value of values) histogram.record(value);
    const sorted = [...values].sort((a, b) => a - b);
    for (const percent of [1, 10, 25, 50, 75, 90, 99, 99.9]) {
      const exact = exactPercentile(sorted, percent);
      const estimate = histogram.percentile(percent)!;
      assert.ok(Math.abs(estimate - exact) <= exact * PERCENTILE_RELATIVE_ERROR, `p${percent}: ${estimate} vs ${exact}`);
    }
    assert.equal(histogram.max, sorted.at(-1));
    assert.equal(histogram.count, values.length);
  });

  it('clamps a percentile to the values seen (one value: every percentile is it)', () => {
    const histogram = new DurationHistogram();
    histogram.record(20_217);
    assert.deepEqual([50, 90, 99].map((p) => histogram.percentile(p)), [20_217, 20_217, 20_217]);
  });

  it('log2Counts equals counting log2 slots directly', () => {
    const histogram = new DurationHistogram();
    const expected: number[] = [];
    for (const value of durations(5000, 777)) {
      histogram.record(value);
      const slot = log2Slot(value);
      while (expected.length <= slot) expected.push(0);
      expected[slot]!++;
    }
    assert.deepEqual(histogram.log2Counts(), expected);
  });
});

describe('TransitionSummary', () => {
  it('counts first-seen transitions but keeps them out of the durations', () => {
    const summary = new TransitionSummary();
    summary.add({ oldState: 7, newState: 2, deltaNs: 0 });
    summary.add({ oldState: 7, newState: 2, deltaNs: 0 });
    summary.add({ oldState: 1, newState: 4, deltaNs: 5_000_000 });
    summary.add({ oldState: 1, newState: 4, deltaNs: 0 }); // a socket that existed before tracing
    summary.add({ oldState: 1, newState: 4, deltaNs: 7_000_999 });
    summary.add({ oldState: 1, newState: 8, deltaNs: 100_000_000 });
    assert.equal(summary.count, 6);
    const [first, second, third] = summary.byTransition();
    assert.deepEqual([first!.oldState, first!.newState, first!.count, first!.firstSeen], [1, 4, 3, 1]);
    assert.equal(first!.durations.count, 2);
    assert.equal(first!.durations.max, 7000);
    assert.deepEqual([second!.oldState, second!.newState, second!.count, second!.firstSeen], [7, 2, 2, 2]);
    assert.equal(second!.durations.count, 0);
    assert.deepEqual([third!.oldState, third!.newState, third!.count], [1, 8, 1]);
  });

  it('merges the transitions out of a state into one histogram per state', () => {
    const summary = new TransitionSummary();
    summary.add({ oldState: 1, newState: 4, deltaNs: 40_000_000 });
    summary.add({ oldState: 1, newState: 8, deltaNs: 50_000_000 });
    summary.add({ oldState: 2, newState: 1, deltaNs: 20_000 });
    summary.add({ oldState: 7, newState: 2, deltaNs: 0 });
    const states = summary.byOldState();
    assert.deepEqual(states.map((s) => [s.state, s.durations.count]), [[1, 2], [2, 1]]);
    assert.equal(states[0]!.durations.max, 50_000);
  });
});

describe('renderSummaryTable', () => {
  it('renders the table and the notes on what FIRST SEEN means', () => {
    const summary = new TransitionSummary();
    summary.add({ oldState: 7, newState: 2, deltaNs: 0 });
    summary.add({ oldState: 1, newState: 4, deltaNs: 5_000_000 });
    summary.add({ oldState: 1, newState: 4, deltaNs: 40 * 1000 });
    assert.deepEqual(SUMMARY_HEAD, ['OLD -> NEW', 'COUNT', 'FIRST SEEN', 'P50 MS', 'P90 MS', 'P99 MS', 'MAX MS']);
    assert.equal(
      renderSummaryTable(summary.byTransition()),
      [
        '┌──────────────────────────┬───────┬────────────┬────────┬────────┬────────┬────────┐',
        '│ OLD -> NEW               │ COUNT │ FIRST SEEN │ P50 MS │ P90 MS │ P99 MS │ MAX MS │',
        '├──────────────────────────┼───────┼────────────┼────────┼────────┼────────┼────────┤',
        '│ ESTABLISHED -> FIN_WAIT1 │     2 │          0 │  0.040 │  5.000 │  5.000 │  5.000 │',
        '│ CLOSE -> SYN_SENT        │     1 │          1 │      - │      - │      - │      - │',
        '└──────────────────────────┴───────┴────────────┴────────┴────────┴────────┴────────┘',
        'MS: time spent in OLD before the transition; P50/P90/P99 within 1.6 %, MAX exact.',
        'FIRST SEEN: transitions of sockets not seen before (no known start, 0.000 in rows):',
        'counted in COUNT, left out of the MS columns and the histograms.',
        '',
      ].join('\n'),
    );
  });

  it('says so when nothing was seen', () => {
    assert.equal(renderSummaryTable([]), 'no TCP state transitions seen\n');
  });
});

describe('renderLog2Histogram', () => {
  // Expected text produced by bcc's _print_log2_hist algorithm (run in
  // python3 on the same slot values), with its "\nstate = X" section line.
  it('matches bcc for the narrow layout', () => {
    assert.equal(
      renderLog2Histogram([0, 2, 0, 5, 1, 0, 7], 'usecs', 'state = ESTABLISHED'),
      [
        '',
        'state = ESTABLISHED',
        '     usecs               : count     distribution',
        '         0 -> 1          : 2        |***********                             |',
        '         2 -> 3          : 0        |                                        |',
        '         4 -> 7          : 5        |****************************            |',
        '         8 -> 15         : 1        |*****                                   |',
        '        16 -> 31         : 0        |                                        |',
        '        32 -> 63         : 7        |****************************************|',
        '',
      ].join('\n'),
    );
  });

  it('matches bcc for the wide layout (a slot above 32)', () => {
    const slots = new Array<number>(35).fill(0);
    slots[2] = 1;
    slots[34] = 3;
    const lines = renderLog2Histogram(slots, 'usecs', 'state = LISTEN').split('\n');
    assert.equal(lines.length, 1 + 1 + 1 + 34 + 1);
    assert.equal(lines[2], '               usecs                         : count     distribution');
    assert.equal(lines[3], '                   0 -> 1                    : 0        |                    |');
    assert.equal(lines[4], '                   2 -> 3                    : 1        |******              |');
    assert.equal(lines[36], '          8589934592 -> 17179869183          : 3        |********************|');
  });

  it('renders one section per state from a summary', () => {
    const summary = new TransitionSummary();
    summary.add({ oldState: 2, newState: 1, deltaNs: 20_000 });
    summary.add({ oldState: 2, newState: 1, deltaNs: 3_000 });
    assert.equal(
      renderStateHistograms(summary.byOldState()),
      [
        '',
        'state = SYN_SENT',
        '     usecs               : count     distribution',
        '         0 -> 1          : 0        |                                        |',
        '         2 -> 3          : 1        |****************************************|',
        '         4 -> 7          : 0        |                                        |',
        '         8 -> 15         : 0        |                                        |',
        '        16 -> 31         : 1        |****************************************|',
        '',
      ].join('\n'),
    );
  });
});

describe('summary JSON', () => {
  it('builds one object per transition, null durations when none is known', () => {
    const summary = new TransitionSummary();
    summary.add({ oldState: 1, newState: 4, deltaNs: 5_000_000 });
    summary.add({ oldState: 7, newState: 2, deltaNs: 0 });
    assert.deepEqual(summary.byTransition().map(transitionSummaryJson), [
      { type: 'transition', oldstate: 'ESTABLISHED', newstate: 'FIN_WAIT1', count: 1, first_seen: 0, p50_ms: 5, p90_ms: 5, p99_ms: 5, max_ms: 5 },
      { type: 'transition', oldstate: 'CLOSE', newstate: 'SYN_SENT', count: 1, first_seen: 1, p50_ms: null, p90_ms: null, p99_ms: null, max_ms: null },
    ]);
  });

  it('lists the non-empty log2 slots of each state', () => {
    const summary = new TransitionSummary();
    summary.add({ oldState: 2, newState: 1, deltaNs: 1_000 });
    summary.add({ oldState: 2, newState: 1, deltaNs: 40_000_000 });
    assert.deepEqual(summary.byOldState().map(stateHistogramJson), [
      {
        type: 'state_histogram',
        state: 'SYN_SENT',
        buckets: [
          { low_us: 0, high_us: 1, count: 1 },
          { low_us: 32768, high_us: 65535, count: 1 },
        ],
      },
    ]);
  });
});
