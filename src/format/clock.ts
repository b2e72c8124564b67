// SPDX-License-Identifier: MIT
// Event timestamps are CLOCK_MONOTONIC (bpf_ktime_get_ns); -T prints wall
// clock time. `wallClockOffsetMs` is measured once at start-up by the caller.

/** Wall-clock ms minus monotonic ms, sampled now. */
export function sampleWallClockOffsetMs(): number {
  return Date.now() - Number(process.hrtime.bigint()) / 1e6;
}

/** Formats HH:MM:SS in local time, caching the last second (events arrive
 * in bursts within the same second). */
export class WallClock {
  private cachedSecond = -1;
  private cachedText = '';

  constructor(private readonly wallClockOffsetMs: number) {}

  hhmmss(monotonicNs: number): string {
    const wallMs = monotonicNs / 1e6 + this.wallClockOffsetMs;
    const second = Math.floor(wallMs / 1000);
    if (second !== this.cachedSecond) {
      const date = new Date(second * 1000);
      const two = (n: number) => String(n).padStart(2, '0');
      this.cachedText = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
      this.cachedSecond = second;
    }
    return this.cachedText;
  }
}
