// SPDX-License-Identifier: MIT
// The kernel floor is a list of features (src/bpf/features.ts), probed when
// the load fails, never a version number; every document states it in the
// same words. (The probes themselves run on the kernel in
// test/kernel/robust-errors.test.ts.)

import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { KERNEL_FEATURES, KERNEL_FLOOR, missingFeaturesError } from '../../src/bpf/features.js';
import { PreflightError } from '../../src/errors.js';

const ROOT = new URL('../../../', import.meta.url);

test('the features: each probe program is in bpf/probe.bpf.c, once', () => {
  const source = readFileSync(new URL('bpf/probe.bpf.c', ROOT), 'utf8');
  for (const feature of KERNEL_FEATURES) {
    assert.equal([...source.matchAll(new RegExp(`\\b${feature.program}\\b[(,]`, 'g'))].length, 1, feature.program);
  }
  assert.deepEqual(
    KERNEL_FEATURES.map((feature) => feature.mainline),
    ['5.5', '5.12', '5.8', '5.9'],
  );
});

test('missing features: one line naming each, the floor as the hint', () => {
  const error = missingFeaturesError([KERNEL_FEATURES[1]!, KERNEL_FEATURES[3]!]);
  assert.ok(error instanceof PreflightError);
  assert.equal(
    error.message,
    'this kernel lacks what the tools need: socket cookies from tracing programs (bpf_get_socket_cookie), mainline 5.12; the TCP socket iterator (iter/tcp), mainline 5.9',
  );
  assert.equal(error.hint, `the tools need ${KERNEL_FLOOR}`);
  assert.ok(!error.message.includes('\n') && !error.hint!.includes('\n'));
});

/** A man page's text as it reads: requests, font escapes and line breaks gone. */
function manText(source: string): string {
  return source
    .split('\n')
    .filter((line) => !line.startsWith('.') || /^\.(B|I|BR|IR) /.test(line))
    .map((line) => line.replace(/^\.(B|I|BR|IR) /, ''))
    .join(' ')
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\s+/g, ' ');
}

test('every document states the same floor, and no version number as the floor', () => {
  const documents: [string, string][] = [
    ['docs/deploy.md', readFileSync(new URL('docs/deploy.md', ROOT), 'utf8').replace(/\s+/g, ' ')],
    ['man/tcpstates.8', manText(readFileSync(new URL('man/tcpstates.8', ROOT), 'utf8'))],
    ['man/tcplife.8', manText(readFileSync(new URL('man/tcplife.8', ROOT), 'utf8'))],
  ];
  for (const [name, text] of documents) assert.ok(text.includes(KERNEL_FLOOR), `${name} states the floor as src/bpf/features.ts KERNEL_FLOOR`);
  for (const name of ['README.md', 'docs/deploy.md', 'man/tcpstates.8', 'man/tcplife.8', 'bpf/tcpstates.bpf.c', 'ARCHITECTURE.md']) {
    const text = readFileSync(new URL(name, ROOT), 'utf8').replace(/\s+/g, ' ');
    assert.doesNotMatch(text, /Linux 4\.16|needs Linux 5\.11|Linux 5\.11 or later\b(?!, or an older vendor kernel)/, name);
  }
});
