// SPDX-License-Identifier: MIT
// The man pages (man/tcpstates.8, man/tcplife.8): they render without a
// groff warning, have bcc's sections, document every option of -h and every
// output column, carry the package's version, quote the bench's measured
// overhead (bench/results/), ship in the npm package, and scripts/install-man makes
// `man <tool>` find them.

import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, test } from 'node:test';
import { tcplifeRenderer } from '../../src/format/tcplife.js';
import { tcpstatesRenderer } from '../../src/format/tcpstates.js';
import { readResults } from '../../bench/results.js';
import { TOOLS } from '../../harness/rows.js';
import { binPath, REPO_ROOT as ROOT } from '../../harness/system.js';

const PACKAGE = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')) as {
  version: string;
  files: string[];
  man: string[];
  bin: Record<string, string>;
  engines: Record<string, string>;
  license: string;
};

/** bcc's man page sections, and ours (EXIT STATUS, ENVIRONMENT). */
const SECTIONS = ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'REQUIREMENTS', 'OPTIONS', 'EXAMPLES', 'FIELDS', 'EXIT STATUS', 'ENVIRONMENT', 'OVERHEAD', 'SOURCE', 'OS', 'STABILITY', 'AUTHOR', 'SEE ALSO'];

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
  const result = spawnSync(command, [...args], { encoding: 'utf8', env, cwd: ROOT, timeout: 30_000 });
  if (result.error) throw new Error(`${command}: ${result.error.message} (scripts/setup installs groff-base and man-db)`);
  return result;
}

/** The page as plain ASCII text, 80 columns. */
function render(page: string): string {
  const result = run('groff', ['-man', '-Tascii', '-rLL=78n', '-P-cbou', page]);
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/** The text of section `name` of a rendered page. */
function section(text: string, name: string): string {
  const start = text.indexOf(`\n${name}\n`);
  assert.ok(start >= 0, `section ${name}`);
  const next = text.slice(start + name.length + 2).search(/\n[A-Z][A-Z ]+\n/);
  return text.slice(start, next < 0 ? undefined : start + name.length + 2 + next);
}

/** The column names of the widest header: -w -T -t, and the CSV one. */
function columns(tool: string): string[] {
  const layout = { wide: true, time: true, timestamp: true, wallClockOffsetMs: 0, colorizer: null };
  const renderer = tool === 'tcplife' ? tcplifeRenderer : tcpstatesRenderer;
  const names = new Set<string>();
  for (const csv of [false, true]) for (const name of renderer({ ...layout, csv }).header().split(/[\s,]+/)) if (name !== '' && name !== '->') names.add(name);
  return [...names];
}

for (const tool of TOOLS) {
  const page = `${ROOT}man/${tool.name}.8`;

  describe(`man/${tool.name}.8`, () => {
    const text = render(page);

    test('renders without a groff warning', () => {
      const result = run('groff', ['-man', '-ww', '-z', page]);
      assert.deepEqual({ status: result.status, stderr: result.stderr }, { status: 0, stderr: '' });
    });

    test("has bcc's sections, in order", () => {
      const found = SECTIONS.map((name) => text.indexOf(`\n${name}\n`));
      for (const [index, name] of SECTIONS.entries()) assert.ok(found[index]! >= 0, `section ${name}`);
      assert.deepEqual([...found].sort((a, b) => a - b), found, 'sections in order');
    });

    test('OPTIONS documents every option of -h, SYNOPSIS names it', () => {
      const help = run(process.execPath, [binPath(tool.name), '-h']).stdout;
      const flags = [...help.matchAll(/^ {2}(?:(-\w), )?(--[\w-]+)/gm)];
      assert.ok(flags.length >= 12, `parsed ${flags.length} options from -h`);
      const options = section(text, 'OPTIONS');
      const synopsis = section(text, 'SYNOPSIS');
      for (const [, short, long] of flags) {
        // A tag line of its own: "       -L PORTS, --localport PORTS".
        const tag = new RegExp(`^ {7}${short === undefined ? '' : `${short}( [A-Z]+)?, `}${long}\\b`, 'm');
        assert.match(options, tag, `OPTIONS has ${short ?? ''} ${long}`);
        assert.ok(synopsis.includes((short ?? long)!), `SYNOPSIS has ${short ?? long}`);
      }
      // And nothing -h does not have.
      const documented = [...options.matchAll(/^ {7}(?:-\w(?: [A-Z]+)?, )?(--[\w-]+)/gm)].map((match) => match[1]);
      assert.deepEqual(documented.sort(), flags.map((flag) => flag[2]).sort());
    });

    test('FIELDS documents every output column', () => {
      const fields = section(text, 'FIELDS');
      const names = columns(tool.name);
      assert.ok(names.length >= 10, names.join(' '));
      for (const name of names) assert.match(fields, new RegExp(`^ {7}${name.replace(/[()]/g, '\\$&')}(\\n| +\\S)`, 'm'), `FIELDS has ${name}`);
    });

    test("the version is the package's", () => {
      assert.match(readFileSync(page, 'utf8'), new RegExp(`^\\.TH ${tool.name} 8 "[0-9-]+" "tcpstates ${PACKAGE.version.replace(/\./g, '\\.')}"`, 'm'));
      assert.ok(section(text, 'OPTIONS').includes(`"${tool.name} ${PACKAGE.version}"`), '-V example output');
    });

    test('OVERHEAD quotes the newest bench results: tracer CPU per event', () => {
      // Of a run on an otherwise idle machine, as the page says (not --busy).
      const quiet = readResults(`${ROOT}bench/results`).filter((file) => !/--busy\b/.test(file.command));
      const warm = quiet.flatMap((file) => file.tables.filter((table) => table.id === 'warm'))[0];
      assert.ok(warm, 'bench/results/ has a warm-runs table');
      const row = warm.rows.find((cells) => /^tracer CPU (µs per event|us\/event)/.test(cells[0]!));
      assert.ok(row, 'the warm-runs table has the tracer CPU per event row');
      const [ours, reference] = [row[warm.columns.indexOf('ours')], row[warm.columns.indexOf('libbpf-tools')]];
      const overhead = section(text, 'OVERHEAD').replace(/\s+/g, ' ');
      assert.ok(overhead.includes(`${ours} us`), `OVERHEAD quotes ours, ${ours} us (update man/${tool.name}.8 with the results)`);
      if (tool.name === 'tcpstates') assert.ok(overhead.includes(`${reference} us`), `OVERHEAD quotes libbpf-tools', ${reference} us`);
    });
  });
}

describe('installing the pages', () => {
  test('scripts/install-man into a directory: man finds and renders both pages there', () => {
    const directory = mkdtempSync(`${tmpdir()}/man-test-`);
    try {
      const install = run(`${ROOT}scripts/install-man`, [directory]);
      assert.equal(install.status, 0, install.stderr);
      for (const tool of TOOLS) {
        const env = { ...process.env, MANPATH: directory, MANWIDTH: '80', MAN_DISABLE_SECCOMP: '1' };
        const where = run('man', ['-w', tool.name], env);
        assert.equal(where.stdout.trim(), `${directory}/man8/${tool.name}.8`, where.stderr);
        const shown = run('man', ['-P', 'cat', tool.name], env);
        assert.equal(shown.status, 0, shown.stderr);
        assert.match(shown.stdout, new RegExp(`^NAME\\n {7}${tool.name} +- `, 'm'));
      }
      // Idempotent: a second run is fine.
      assert.equal(run(`${ROOT}scripts/install-man`, [directory]).status, 0);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  test('the npm package ships them and is ready to publish', () => {
    assert.ok(PACKAGE.files.includes('man/'));
    assert.deepEqual(PACKAGE.man, ['man/tcpstates.8', 'man/tcplife.8']);
    assert.deepEqual(Object.keys(PACKAGE.bin).sort(), ['tcplife', 'tcpstates']);
    assert.equal(PACKAGE.engines.node, '>=20');
    assert.ok(PACKAGE.license.length > 0);
    const packed = run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { ...process.env, npm_config_loglevel: 'error' });
    assert.equal(packed.status, 0, packed.stderr);
    const paths = (JSON.parse(packed.stdout) as { files: { path: string }[] }[])[0]!.files.map((file) => file.path);
    for (const path of PACKAGE.man) assert.ok(paths.includes(path), `the tarball has ${path}`);
  });
});
