// SPDX-License-Identifier: MIT
// --container: NETNS, CONTAINER and CGROUP columns after a text row's last
// column (or three more CSV fields), so that rows from containers sharing
// addresses and ports can be told apart. Without the flag rows stay bcc's,
// byte for byte.

import { containerIdOf, SHORT_CONTAINER_ID_LENGTH } from '../sys/container-id.js';
import type { ByteOutput } from './output.js';
import type { CgroupPathOf } from './json.js';
import { printable } from '../quote.js';

/** NETNS is a u32 inode (4026531840: 10 digits). */
const NETNS_WIDTH = 10;

export function containerHeader(header: string, csv: boolean): string {
  return csv
    ? `${header},NETNS,CONTAINER,CGROUP`
    : `${header} ${'NETNS'.padEnd(NETNS_WIDTH)} ${'CONTAINER'.padEnd(SHORT_CONTAINER_ID_LENGTH)} CGROUP`;
}

/**
 * Appends the columns to the row just written (which ends in a newline):
 * the namespace's inode number, the container id (its first 12 digits in
 * text, all 64 in CSV; "-" for none) and the cgroup path ("-" when unknown).
 * A cgroup's name is anyone's with a delegated subtree: its control
 * characters are shown as "?" (as a process name's are), and in CSV a path
 * with a comma or a double quote is quoted (RFC 4180).
 */
export function appendContainerColumns(
  out: ByteOutput,
  netnsIno: number,
  cgroupId: number,
  cgroupPathOf: CgroupPathOf,
  csv: boolean,
): void {
  out.truncate(out.length - 1); // the newline
  out.byte(csv ? 0x2c : 0x20);
  const start = out.length;
  out.uint(netnsIno);
  if (!csv) out.pad(start, NETNS_WIDTH, 'left');
  out.byte(csv ? 0x2c : 0x20);
  const path = cgroupPathOf(cgroupId);
  const id = containerIdOf(path);
  if (csv) out.text(id ?? '-');
  else out.text((id === null ? '-' : id.slice(0, SHORT_CONTAINER_ID_LENGTH)).padEnd(SHORT_CONTAINER_ID_LENGTH));
  out.byte(csv ? 0x2c : 0x20);
  out.text(path === null ? '-' : cgroupField(printable(path), csv));
  out.byte(0x0a);
}

function cgroupField(path: string, csv: boolean): string {
  return csv && /[,"]/.test(path) ? `"${path.replaceAll('"', '""')}"` : path;
}
