// SPDX-License-Identifier: MIT
// koffi, loaded once. Its entry point finds the prebuilt native module for
// this system through two packages' JavaScript (platform and C library
// detection, each package's loader), which costs every start some 5 ms
// (docs/design.md, Start-up). On Linux with glibc (this process has
// libc.so.6 mapped: what koffi's loader finds out from Node's ELF
// interpreter), its glibc build is loaded directly from koffi's platform
// package, if its version is koffi's. Anything else goes through koffi's
// entry point.

import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type KoffiDefault from 'koffi';

export type Koffi = typeof KoffiDefault;

const requireHere = createRequire(import.meta.url);

/** This package's root: dist/src/ffi (or dist/src/bundle) is three levels below it. */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * koffi's package directory: in this package's own node_modules where it is
 * there (a clone, a global install), which costs one stat; else where Node's
 * resolution finds koffi's entry point (some 2 ms of package lookups).
 */
function koffiDirectory(): string {
  const direct = join(PACKAGE_ROOT, 'node_modules', 'koffi');
  return existsSync(join(direct, 'package.json')) ? direct : dirname(requireHere.resolve('koffi'));
}

function versionOf(packageDirectory: string): unknown {
  return (JSON.parse(readFileSync(join(packageDirectory, 'package.json'), 'utf8')) as { version?: unknown }).version;
}

/**
 * Where koffi's glibc build for this machine is, given this process's
 * /proc/self/maps and koffi's package directory: in koffi's platform package
 * beside koffi, where koffi's own loader looks, and never further up (a
 * node_modules in /tmp or / is anyone's). null where koffi's own loader must
 * choose (another system, another C library), or where that package is
 * missing or not koffi's version: nothing of it is loaded before its version
 * is known to be koffi's.
 */
export function glibcPrebuiltPath(maps: string, koffiDir: string, platform = process.platform, arch = process.arch): string | null {
  if (platform !== 'linux' || !/\/libc\.so\.6$/m.test(maps)) return null;
  const platformPackage = join(koffiDir, '..', '@koromix', `koffi-linux-${arch}`);
  try {
    return versionOf(platformPackage) === versionOf(koffiDir) ? join(platformPackage, `linux_${arch}`, 'koffi.node') : null;
  } catch {
    return null;
  }
}

/** The prebuilt module, loaded directly; null where koffi must choose. */
function loadPrebuilt(): Koffi | null {
  try {
    const koffiDir = koffiDirectory();
    const path = glibcPrebuiltPath(readFileSync('/proc/self/maps', 'utf8'), koffiDir);
    if (path === null) return null;
    const native = requireHere(path) as Koffi & { version?: unknown };
    return native.version === versionOf(koffiDir) ? native : null;
  } catch {
    return null;
  }
}

/** How koffi was loaded: directly ('prebuilt') or through its entry point. */
export let koffiLoadedBy: 'prebuilt' | 'entry point' = 'prebuilt';

function loadKoffi(): Koffi {
  const prebuilt = loadPrebuilt();
  if (prebuilt !== null) return prebuilt;
  koffiLoadedBy = 'entry point';
  return requireHere('koffi') as Koffi;
}

export const koffi: Koffi = loadKoffi();
