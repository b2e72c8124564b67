// SPDX-License-Identifier: MIT
// Colour for terminals only. The chalk instance is built here from explicit
// inputs (never chalk's global), so formatting stays deterministic in tests.
// chalk is imported only when colour is wanted: loading it costs ~10 ms of
// start-up, and output to files and pipes is never coloured.

import type { ChalkInstance } from 'chalk';
import { TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV, TCP_SYN_SENT } from '../decode/tcp-states.js';

export type Colorizer = ChalkInstance;

/** FORCE_COLOR as chalk reads it: "0"/"false" off, ""/"true"/"1" basic,
 * "2" 256 colours, "3" truecolor; undefined when unset or unreadable. */
export function forcedColorLevel(value: string | undefined): 0 | 1 | 2 | 3 | undefined {
  if (value === undefined) return undefined;
  if (value === '' || value === 'true') return 1;
  if (value === 'false') return 0;
  if (!/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), 3) as 0 | 1 | 2 | 3;
}

/**
 * The colour level for output to `isTTY`, following the usual conventions as
 * chalk's detection does, within this project's rule that only a terminal is
 * ever coloured (rows piped to scripts stay plain, FORCE_COLOR or not):
 * NO_COLOR set (https://no-color.org: any value, even empty) disables it;
 * FORCE_COLOR=0 disables it, 1-3 enable it even with TERM=dumb; otherwise
 * TERM=dumb disables it.
 */
export function colorLevel(isTTY: boolean, env: NodeJS.ProcessEnv): 0 | 1 | 2 | 3 {
  if (!isTTY || env.NO_COLOR !== undefined) return 0;
  const forced = forcedColorLevel(env.FORCE_COLOR);
  if (forced !== undefined) return forced;
  return env.TERM === 'dumb' ? 0 : 1;
}

/** A colorizer when colorLevel allows colour; else null (chalk not loaded). */
export async function colorizerFor(isTTY: boolean, env: NodeJS.ProcessEnv): Promise<Colorizer | null> {
  const level = colorLevel(isTTY, env);
  if (level === 0) return null;
  const { Chalk } = await import('chalk');
  return new Chalk({ level });
}

export function colorState(colorizer: Colorizer, state: number, text: string): string {
  switch (state) {
    case TCP_ESTABLISHED:
      return colorizer.green(text);
    case TCP_SYN_SENT:
    case TCP_SYN_RECV:
      return colorizer.yellow(text);
    case TCP_CLOSE:
      return colorizer.red(text);
    case TCP_LISTEN:
      return colorizer.cyan(text);
    default:
      return text;
  }
}
