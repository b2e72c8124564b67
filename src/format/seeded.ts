// SPDX-License-Identifier: MIT
// --existing: a session that predates the trace has an unknown start, so its
// MS (tcplife's lifespan, tcpstates' first time in a state) counts from when
// the trace found it, a lower bound. The text rows mark it with a prefix on
// the MS value, which is the last column: the columns before it stay aligned.

import { EVENT_FLAG_SEEDED } from '../decode/event.js';

export const SEEDED_MARKER = '>';

/** `ms` with the lower-bound marker when `flags` says the start was not seen. */
export function markIfSeeded(flags: number, ms: string): string {
  return (flags & EVENT_FLAG_SEEDED) !== 0 ? SEEDED_MARKER + ms : ms;
}

/** Whether the event's start was seen (JSON's start_seen). */
export function startSeen(flags: number): boolean {
  return (flags & EVENT_FLAG_SEEDED) === 0;
}
