// SPDX-License-Identifier: MIT
// Colour for terminals only. The chalk instance is built here from explicit
// inputs (never chalk's global), so formatting stays deterministic in tests.
// chalk is imported only when colour is wanted: loading it costs ~10 ms of
// start-up, and output to files and pipes is never coloured.

import type { ChalkInstance } from 'chalk';
import { TCP_CLOSE, TCP_ESTABLISHED, TCP_LISTEN, TCP_SYN_RECV, TCP_SYN_SENT } from '../decode/tcp-states.js';

export type Colorizer = ChalkInstance;

/**
 * A colorizer when output goes to a terminal and NO_COLOR is not set
 * (https://no-color.org: any value, even empty, disables colour); else null.
 */
export async function colorizerFor(isTTY: boolean, env: NodeJS.ProcessEnv): Promise<Colorizer | null> {
  if (!isTTY || env.NO_COLOR !== undefined) return null;
  const { Chalk } = await import('chalk');
  return new Chalk({ level: 1 });
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
