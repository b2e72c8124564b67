// SPDX-License-Identifier: MIT
// Stop signals (SIGINT, SIGTERM, SIGHUP) caught from the first line of the
// bin script, before the ~50 ms of module loading: without a handler, a
// Ctrl-C in that window kills Node with status 130 and no final line. Until
// the tracing loop takes over, a signal is only recorded; the loop then ends
// at once, as a clean stop (exit 0, the usual final line).
//
// The record lives on `process` under a registry symbol, not in this
// module's scope, so that it is shared even when the bin script and the tool
// get this module from two different files (a bundle).

/** The signals that stop a tool cleanly. */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

interface EarlyStop {
  signal: StopSignal | null;
  readonly handler: (signal: StopSignal) => void;
}

const KEY = Symbol.for('tcpstates.earlyStop');

function state(): EarlyStop | undefined {
  return (process as unknown as Record<symbol, EarlyStop | undefined>)[KEY];
}

/** Starts recording stop signals; idempotent. */
export function catchStopSignalsEarly(): void {
  if (state() !== undefined) return;
  const record: EarlyStop = {
    signal: null,
    handler: (signal) => {
      record.signal ??= signal;
    },
  };
  (process as unknown as Record<symbol, EarlyStop>)[KEY] = record;
  for (const signal of STOP_SIGNALS) process.on(signal, record.handler);
}

/** The first stop signal received since catchStopSignalsEarly, or null. */
export function earlyStopSignal(): StopSignal | null {
  return state()?.signal ?? null;
}

catchStopSignalsEarly();
