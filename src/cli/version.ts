// SPDX-License-Identifier: MIT
// The package's version for -V/--version, read from its package.json only
// when asked (nothing at start-up). The file is found by walking up from this
// module, so it is found from dist/src/cli/, from a bundle elsewhere under
// the package, and from an npm install alike.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = 'tcpstates';

/** The version in the nearest package.json named "tcpstates" above `from`. */
export function packageVersion(from: string = fileURLToPath(import.meta.url)): string {
  for (let directory = dirname(from); ; directory = dirname(directory)) {
    try {
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (manifest.name === PACKAGE_NAME && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // none here, or not ours: look further up
    }
    if (dirname(directory) === directory) throw new Error(`no package.json of ${PACKAGE_NAME} above ${from}`);
  }
}
