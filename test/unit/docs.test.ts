// SPDX-License-Identifier: MIT
// The documentation against its one source. Options: `-h` (commander's
// definitions) is the source; the README's options table and each man page's
// OPTIONS must name exactly the options of each tool's -h, with the same
// short flag and value name, and restate its default word for word. (-h is
// the source because it is what the parser accepts; the README and the man
// pages add what a table cell and a paragraph can say, and cannot drift.)
// Performance: docs/performance.md's results must be what bench/results/
// renders to (npm run bench:render).

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { readResults, renderPerformanceDoc } from '../../bench/results.js';
import { TOOLS } from '../../harness/rows.js';
import { binPath, REPO_ROOT as ROOT } from '../../harness/system.js';

interface DocumentedOption {
  readonly short: string | null;
  readonly long: string;
  /** The value's name, upper case (PORTS, [[HOST:]PORT] when optional); null for a flag. */
  readonly value: string | null;
  /** The text after the flags: -h's description, the README row. */
  readonly text: string;
}

/** The options of `tool -h`, wrapped description lines joined. */
function helpOptions(tool: string): DocumentedOption[] {
  const result = spawnSync(process.execPath, [binPath(tool), '-h'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '80' } });
  assert.equal(result.status, 0, result.stderr);
  const body = result.stdout.slice(result.stdout.indexOf('Options:\n'), result.stdout.indexOf('\nexamples:'));
  const options: DocumentedOption[] = [];
  for (const line of body.split('\n').slice(1)) {
    // A value is <required> or [optional] (kept in its brackets: --metrics [[HOST:]PORT]).
    const start = /^ {2}(?:(-\w), )?(--[\w-]+)(?: <([^>]+)>| (\[\S+\]))? {2,}(.*)$/.exec(line);
    if (start !== null) {
      options.push({ short: start[1] ?? null, long: start[2]!, value: (start[3] ?? start[4])?.toUpperCase() ?? null, text: start[5]! });
    } else if (/^ {20,}\S/.test(line) && options.length > 0) {
      const last = options.pop()!;
      options.push({ ...last, text: `${last.text} ${line.trim()}` });
    }
  }
  assert.ok(options.length >= 12, `parsed ${options.length} options from ${tool} -h`);
  return options;
}

/** The README's options table, with the tools each row is for. */
function readmeOptions(): (DocumentedOption & { tools: string })[] {
  const readme = readFileSync(`${ROOT}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('\n## Options\n'), readme.indexOf('\n## ', readme.indexOf('\n## Options\n') + 1));
  const rows = [...section.matchAll(/^\| `(-[^|]*)` \| (\w+) \| (.*) \|$/gm)];
  assert.ok(rows.length >= 12, `parsed ${rows.length} rows from the README's options table`);
  return rows.map(([, flags, tools, text]) => {
    const match = /^(?:(-\w)`, `)?(--[\w-]+)(?: (\S+))?$/.exec(flags!);
    assert.ok(match, `README option cell ${flags}`);
    return { short: match[1] ?? null, long: match[2]!, value: match[3] ?? null, tools: tools!, text: text! };
  });
}

/** The man page's roff source as plain text: escapes and font changes removed, one space between words. */
function manText(tool: string): string {
  return readFileSync(`${ROOT}man/${tool}.8`, 'utf8')
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\\(aq/g, "'")
    .replace(/\s+/g, ' ');
}

/** The options of the man page's OPTIONS section: the tag line after each .TP. */
function manOptions(tool: string): DocumentedOption[] {
  const roff = readFileSync(`${ROOT}man/${tool}.8`, 'utf8');
  const start = roff.indexOf('\n.SH OPTIONS\n');
  const lines = roff.slice(start, roff.indexOf('\n.SH ', start + 1)).split('\n');
  return lines.flatMap((line, index) => {
    if (line !== '.TP') return [];
    const tag = (lines[index + 1] ?? '').replace(/\\f[BIRP]/g, '').replace(/\\-/g, '-');
    const match = /^(?:(-\w)(?: \S+)?, )?(--[\w-]+)(?: (\S+))?$/.exec(tag);
    assert.ok(match, `man/${tool}.8 OPTIONS tag ${tag}`);
    return [{ short: match[1] ?? null, long: match[2]!, value: match[3] ?? null, text: '' }];
  });
}

/** What must agree everywhere: the flags and the value's name, sorted by long option. */
function shapes(options: readonly DocumentedOption[]): { long: string; short: string | null; value: string | null }[] {
  return options.map(({ long, short, value }) => ({ long, short, value })).sort((a, b) => a.long.localeCompare(b.long));
}

/** "(default: ...)" at the end of a description: the one statement of a default. */
function defaultClause(text: string): string | null {
  return /\(default: (.*)\)$/.exec(text)?.[1] ?? null;
}

describe('options: -h, the README table and the man pages agree', () => {
  const readme = readmeOptions();
  for (const tool of TOOLS) {
    const help = helpOptions(tool.name);
    const documented = readme.filter((row) => row.tools === 'both' || row.tools === tool.name);

    test(`${tool.name}: the README table has exactly -h's options, with its short flags and value names`, () => {
      assert.deepEqual(shapes(documented), shapes(help));
    });

    test(`${tool.name}: the man page's OPTIONS has exactly -h's options, with its short flags and value names`, () => {
      assert.deepEqual(shapes(manOptions(tool.name)), shapes(help));
    });

    test(`${tool.name}: a default stated in -h is stated word for word in the README and the man page`, () => {
      const man = manText(tool.name);
      const defaults = help.filter((option) => defaultClause(option.text) !== null);
      assert.ok(defaults.length > 0, 'at least --buffer-pages states its default');
      for (const option of defaults) {
        const clause = `default: ${defaultClause(option.text)!}`;
        const row = documented.find((entry) => entry.long === option.long);
        assert.ok(row?.text.includes(clause), `README row ${option.long} says "${clause}"`);
        assert.ok(man.includes(clause), `man/${tool.name}.8 ${option.long} says "${clause}"`);
      }
    });
  }

  test('every README row names a tool that has it', () => {
    for (const row of readme) assert.ok(['both', ...TOOLS.map((tool) => tool.name)].includes(row.tools), `${row.long}: ${row.tools}`);
  });
});

describe('docs/performance.md', () => {
  const results = readResults(`${ROOT}bench/results`);

  test('every results file names its date, machine, kernel and commit', () => {
    assert.ok(results.length > 0);
    for (const file of results) {
      assert.match(file.date, /^\d{4}-\d\d-\d\d/);
      assert.ok(file.machine.cpu !== '' && file.machine.kernel !== '' && file.machine.cpus > 0, JSON.stringify(file.machine));
      assert.match(file.commit, /^[0-9a-f]{7,40}(-dirty)?$/);
      assert.ok(file.tables.length > 0, `${file.date}: tables`);
      for (const table of file.tables) for (const row of table.rows) assert.equal(row.length, table.columns.length, `${table.id}: ${row[0]}`);
    }
  });

  test('its results are rendered from bench/results/ (npm run bench:render)', () => {
    const page = readFileSync(`${ROOT}docs/performance.md`, 'utf8');
    assert.equal(page, renderPerformanceDoc(page, results), 'docs/performance.md is out of date: run npm run bench:render');
  });
});
