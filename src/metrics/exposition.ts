// SPDX-License-Identifier: MIT
// The Prometheus exposition formats, pure: text format 0.0.4 and
// OpenMetrics 1.0.0, and the fixed-bucket histogram both render. Aggregation
// never allocates per observation; only a scrape builds strings.

export type ExpositionFormat = 'prometheus' | 'openmetrics';

export const CONTENT_TYPES: Record<ExpositionFormat, string> = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

/** The format a scrape's Accept header asks for: OpenMetrics only when named. */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  return accept !== undefined && /application\/openmetrics-text/i.test(accept) ? 'openmetrics' : 'prometheus';
}

/** Histogram bucket upper bounds, seconds: 10 µs to 1 h. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  1e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 3600,
];
/** The same bounds in whole ns, so that observations compare as integers. */
const BUCKET_BOUNDS_NS: readonly number[] = DURATION_BUCKETS_SECONDS.map((seconds) => Math.round(seconds * 1e9));

/** A duration histogram in fixed memory: one counter per bucket (not
 * cumulative; cumulated at render), the +Inf overflow, a sum and a count. */
export class FixedHistogram {
  /** counts[i]: observations <= bound i and > bound i-1; the last: above all bounds. */
  readonly counts = new Float64Array(BUCKET_BOUNDS_NS.length + 1);
  sumSeconds = 0;
  count = 0;

  observeNs(durationNs: number): void {
    let i = 0;
    while (i < BUCKET_BOUNDS_NS.length && durationNs > (BUCKET_BOUNDS_NS[i] as number)) i++;
    this.counts[i]!++;
    this.sumSeconds += durationNs / 1e9;
    this.count++;
  }
}

export type Labels = readonly (readonly [string, string])[];

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: readonly [string, string]): string {
  const all = extra === undefined ? labels : [...labels, extra];
  if (all.length === 0) return '';
  return `{${all.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(',')}}`;
}

/** A sample value: integers as integers, others in JS's shortest round-trip form. */
export function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  if (Number.isNaN(value)) return 'NaN';
  return String(value);
}

/** Builds one exposition: families in the order added. */
export class Exposition {
  private text = '';

  constructor(readonly format: ExpositionFormat) {}

  /** A counter family; `name` ends in `_total`, as samples are named. In
   * OpenMetrics the family (HELP, TYPE) is named without the suffix. */
  counter(name: string, help: string, samples: Iterable<readonly [Labels, number]>): this {
    const family = this.format === 'openmetrics' ? name.replace(/_total$/, '') : name;
    this.text += `# HELP ${family} ${help}\n# TYPE ${family} counter\n`;
    for (const [labels, value] of samples) this.text += `${name}${labelText(labels)} ${formatValue(value)}\n`;
    return this;
  }

  /** A gauge family: a value that goes up and down (or an `_info` series of 1). */
  gauge(name: string, help: string, samples: Iterable<readonly [Labels, number]>): this {
    this.text += `# HELP ${name} ${help}\n# TYPE ${name} gauge\n`;
    for (const [labels, value] of samples) this.text += `${name}${labelText(labels)} ${formatValue(value)}\n`;
    return this;
  }

  histogram(name: string, help: string, samples: Iterable<readonly [Labels, FixedHistogram]>): this {
    this.text += `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
    for (const [labels, histogram] of samples) {
      let cumulative = 0;
      for (let i = 0; i < DURATION_BUCKETS_SECONDS.length; i++) {
        cumulative += histogram.counts[i]!;
        const le = formatValue(DURATION_BUCKETS_SECONDS[i] as number);
        this.text += `${name}_bucket${labelText(labels, ['le', le])} ${formatValue(cumulative)}\n`;
      }
      this.text += `${name}_bucket${labelText(labels, ['le', '+Inf'])} ${formatValue(histogram.count)}\n`;
      this.text += `${name}_sum${labelText(labels)} ${formatValue(histogram.sumSeconds)}\n`;
      this.text += `${name}_count${labelText(labels)} ${formatValue(histogram.count)}\n`;
    }
    return this;
  }

  end(): string {
    return this.format === 'openmetrics' ? `${this.text}# EOF\n` : this.text;
  }
}
