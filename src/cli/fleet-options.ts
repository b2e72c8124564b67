// SPDX-License-Identifier: MIT
// Options for running in a fleet, common to both tools: --metrics (a
// Prometheus endpoint), -N/--netns and --cgroup (kernel filters by network
// namespace and cgroup v2), --container (NETNS and CGROUP text columns).
// Parsed and resolved here, before anything touches the kernel.

import { Option, type Command } from 'commander';
import { defaultMetricsPort } from '../metrics/ports.js';
import { parseMetricsAddress, type MetricsAddress } from '../metrics/server.js';
import { resolveCgroupOption, type CgroupTarget } from '../sys/cgroup.js';
import { resolveNetnsOption } from '../sys/netns.js';
import { checkedValue } from './options.js';

export interface FleetRawOptions {
  metrics?: string;
  netns?: string;
  cgroup?: string;
  container?: boolean;
}

export interface FleetOptions {
  /** --metrics: serve GET /metrics here; null = no endpoint. */
  readonly metrics: MetricsAddress | null;
  /** -N/--netns: the namespace's inode number; null = all. */
  readonly netnsIno: number | null;
  /** --cgroup: the cgroup (and its subtree) to keep; null = all. */
  readonly cgroup: CgroupTarget | null;
  /** --container: NETNS and CGROUP columns at the end of text rows. */
  readonly container: boolean;
}

/** Row-layout options that mean nothing without rows (or with --json). */
export const ROW_LAYOUT_OPTIONS = ['csv', 'wide', 'time', 'timestamp'];

export function addFleetOptions(command: Command): Command {
  const port = defaultMetricsPort(command.name());
  return command
    .addOption(
      new Option(
        '--metrics [[host:]port]',
        `serve Prometheus metrics on GET /metrics (default 127.0.0.1:${port}; port 0 picks one); no rows unless --json`,
      )
        .preset(String(port))
        .conflicts([...ROW_LAYOUT_OPTIONS, 'container']),
    )
    .option('-N, --netns <ns>', 'only sockets in this network namespace: an inode number or a file (/proc/PID/ns/net, /run/netns/NAME)')
    .option('--cgroup <path>', 'only sockets in this cgroup v2 directory or below it')
    .addOption(new Option('--container', 'add NETNS and CGROUP columns to text rows').conflicts('json'));
}

/** @throws UsageError (bad input), EnvironmentError (what the machine refused) */
export function validateFleet(raw: FleetRawOptions): FleetOptions {
  return {
    metrics: raw.metrics === undefined ? null : checkedValue(parseMetricsAddress(raw.metrics, '--metrics')),
    netnsIno: raw.netns === undefined ? null : checkedValue(resolveNetnsOption(raw.netns, '-N/--netns')),
    cgroup: raw.cgroup === undefined ? null : checkedValue(resolveCgroupOption(raw.cgroup, '--cgroup')),
    container: raw.container === true,
  };
}
