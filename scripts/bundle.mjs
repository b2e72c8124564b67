// SPDX-License-Identifier: MIT
// Build step (npm run build:bundle, after tsc): bundles both tools into one
// CommonJS file, dist/src/bundle/tools.cjs (koffi, a native module, stays
// outside), written as one function expression for cli/launch.cts to
// compile with node:vm; then runs it once (src/cli/bundle-entry.ts prime)
// and saves V8's code cache next to it. Without esbuild (dev dependencies
// not installed) it removes any old bundle and says so: the tools then
// start from the modules, only slower.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'dist', 'src', 'bundle');
const bundlePath = join(outDir, 'tools.cjs');
const cachePath = join(outDir, 'tools.cache');
rmSync(outDir, { recursive: true, force: true });

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('bundle: esbuild is not installed; the tools will start from the modules (slower start)\n');
  process.exit(0);
}
mkdirSync(outDir, { recursive: true });
const result = await esbuild.build({
  entryPoints: [join(root, 'dist', 'src', 'cli', 'bundle-entry.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['koffi'],
  write: false,
  legalComments: 'none',
  // import.meta.url as the modules had it: the bundle sits two levels
  // below dist/, as they did, so '../../bpf/...' still means dist/bpf.
  define: { 'import.meta.url': 'importMetaUrl' },
  banner: { js: '(function (exports, require, module, __filename, __dirname) {\nconst importMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
  footer: { js: '})' },
  logLevel: 'warning',
});
writeFileSync(bundlePath, result.outputFiles[0].text);

const { evaluateBundle } = await import(join(root, 'dist', 'src', 'cli', 'launch.cjs'));
const { bundle, script } = evaluateBundle(result.outputFiles[0].text, undefined);
bundle.prime();
writeFileSync(cachePath, script.createCachedData());
