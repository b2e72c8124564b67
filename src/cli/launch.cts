// SPDX-License-Identifier: MIT
// How bin/tcpstates and bin/tcplife start a tool. The build (npm run build)
// also makes a one-file bundle of the tools (dist/src/bundle/tools.cjs) and
// V8's code cache for it (tools.cache): loading one file whose compiled
// code comes from the cache saves most of the ~25 ms of resolving, reading
// and compiling some 40 modules. Without the bundle (a clone built with
// tsc alone), or when it is older than this module (tsc ran after it, so it
// may be stale), or if it fails to load, the tool starts from the modules.
// V8 checks the cache itself (source, V8 version, flags) and rejects one
// that does not fit; the code is then compiled as usual. Either way the
// tool behaves the same.
//
// CommonJS (like trace/signals.cts and bin/*), so that a start from the
// bundle never starts Node's ES module loader, some 7 ms; the fallback
// imports the modules.

import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';
import type { ToolMain } from './main.js' with { 'resolution-mode': 'import' };

export type ToolName = 'tcpstates' | 'tcplife';

export interface ToolBundle {
  runMain(tool: string, argv: readonly string[], main: ToolMain): void;
  readonly tcpstates: ToolMain;
  readonly tcplife: ToolMain;
  prime(): void;
}

export const BUNDLE_PATH = join(__dirname, '..', 'bundle', 'tools.cjs');
export const CODE_CACHE_PATH = join(__dirname, '..', 'bundle', 'tools.cache');
const SELF_PATH = __filename;

/**
 * Compiles the bundle (a function expression taking CommonJS's exports,
 * require, module, __filename, __dirname) with `cachedData` and runs it.
 * Returns the script too, for the build to save its code cache.
 */
export function evaluateBundle(source: string, cachedData: Buffer | undefined): { bundle: ToolBundle; script: Script } {
  const script = new Script(source, { filename: BUNDLE_PATH, ...(cachedData ? { cachedData } : {}) });
  const wrapper = script.runInThisContext() as (
    exports: object,
    require: NodeJS.Require,
    module: { exports: object },
    filename: string,
    directory: string,
  ) => void;
  const module = { exports: {} };
  wrapper(module.exports, createRequire(BUNDLE_PATH), module, BUNDLE_PATH, dirname(BUNDLE_PATH));
  return { bundle: module.exports as ToolBundle, script };
}

/** The bundle, or null to start from the modules. */
export function loadBundle(): ToolBundle | null {
  try {
    if (statSync(BUNDLE_PATH).mtimeMs < statSync(SELF_PATH).mtimeMs) return null;
    const source = readFileSync(BUNDLE_PATH, 'utf8');
    let cachedData: Buffer | undefined;
    try {
      cachedData = readFileSync(CODE_CACHE_PATH);
    } catch {
      cachedData = undefined;
    }
    return evaluateBundle(source, cachedData).bundle;
  } catch {
    return null;
  }
}

export async function launch(tool: ToolName, argv: readonly string[]): Promise<void> {
  const bundle = loadBundle();
  if (bundle !== null) {
    bundle.runMain(tool, argv, bundle[tool]);
    return;
  }
  const [cli, module] = await Promise.all([
    import('./main.js'),
    tool === 'tcpstates' ? import('./tcpstates.js') : import('./tcplife.js'),
  ]);
  cli.runMain(tool, argv, module.main);
}
