// SPDX-License-Identifier: MIT
// npm run bench:render: docs/performance.md's results, rendered from the
// bench's data in bench/results/ (bench/results.ts). A unit test fails when
// the page and the data disagree.

import { readFileSync, writeFileSync } from 'node:fs';
import { REPO_ROOT } from '../harness/system.js';
import { readResults, renderPerformanceDoc } from './results.js';

const PAGE = `${REPO_ROOT}docs/performance.md`;
writeFileSync(PAGE, renderPerformanceDoc(readFileSync(PAGE, 'utf8'), readResults(`${REPO_ROOT}bench/results`)));
process.stdout.write(`bench:render: ${PAGE} rendered from bench/results/\n`);
