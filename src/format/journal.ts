// SPDX-License-Identifier: MIT
// -Y/--journal: a tcpstates event as a systemd journal entry (bcc's field
// names), encoded in the journal's native datagram protocol. Pure.
//
// Native protocol (systemd.journal-fields(7), journald-native.c): one entry
// per datagram, one field per line, "NAME=value\n". A value containing a
// newline is sent as "NAME\n" + its byte length as a little-endian u64 +
// the bytes + "\n". Names are [A-Z0-9_], not starting with a digit or "_"
// (journald drops "_" fields from clients: they are its trusted fields).

import type { TcpEvent } from '../decode/event.js';
import { AF_INET6 } from '../decode/addr.js';
import { stateName } from '../decode/tcp-states.js';

export type JournalField = readonly [name: string, value: string];

export interface JournalFieldOptions {
  /**
   * Send OBJECT_COMM. bcc leaves it out when running as root, because
   * journald then fills in OBJECT_COMM (and OBJECT_EXE, ...) itself from
   * OBJECT_PID, which it only trusts from root senders: sending it as well
   * would record it twice.
   */
  readonly includeComm: boolean;
}

/**
 * The fields bcc's tcpstates -Y sends, in its order. Not sent: bcc's
 * _SOURCE_REALTIME_TIMESTAMP (journald drops client fields starting with
 * "_" and stamps the entry itself) and python-systemd's CODE_FILE/LINE/FUNC.
 */
export function tcpstatesJournalFields(event: TcpEvent, options: JournalFieldOptions): JournalField[] {
  const ip = event.family === AF_INET6 ? 'IPV6' : 'IPV4';
  const oldState = stateName(event.oldState);
  const newState = stateName(event.newState);
  const fields: JournalField[] = [
    ['SYSLOG_IDENTIFIER', 'tcpstates'],
    ['PRIORITY', '5'],
    ['OBJECT_PID', String(event.pid)],
  ];
  if (options.includeComm) fields.push(['OBJECT_COMM', event.comm]);
  fields.push(
    [`OBJECT_${ip}_SOURCE_ADDRESS`, event.localAddress],
    ['OBJECT_TCP_SOURCE_PORT', String(event.localPort)],
    [`OBJECT_${ip}_DESTINATION_ADDRESS`, event.remoteAddress],
    ['OBJECT_TCP_DESTINATION_PORT', String(event.remotePort)],
    ['OBJECT_TCP_OLD_STATE', oldState],
    ['OBJECT_TCP_NEW_STATE', newState],
    // Microseconds, as bcc's span_us: the MS column times 1000.
    ['OBJECT_TCP_SPAN_TIME', String(Math.floor(event.deltaNs / 1000))],
    [
      'MESSAGE',
      `${event.comm} ${event.localAddress} ${event.localPort} → ${event.remoteAddress} ${event.remotePort} ${oldState} → ${newState}`,
    ],
  );
  return fields;
}

/** journal_field_valid(): at most 64 of [A-Z0-9_], not starting with a digit or "_". */
const FIELD_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
const encoder = new TextEncoder();

/**
 * One datagram for `fields`. Values are UTF-8; those with a newline (a comm
 * can hold one) use the binary form. @throws Error on an invalid name: names
 * are constants of this program, so that is a bug, not bad input.
 */
export function encodeJournalEntry(fields: readonly JournalField[]): Uint8Array {
  for (const [name] of fields) if (!FIELD_NAME.test(name)) throw new Error(`invalid journal field name "${name}"`);
  // The usual case, no newline anywhere: one string, encoded once.
  if (!fields.some(([, value]) => value.includes('\n'))) {
    let text = '';
    for (const [name, value] of fields) text += `${name}=${value}\n`;
    return encoder.encode(text);
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (part: Uint8Array) => {
    parts.push(part);
    size += part.length;
  };
  for (const [name, value] of fields) {
    if (!value.includes('\n')) {
      push(encoder.encode(`${name}=${value}\n`));
      continue;
    }
    const bytes = encoder.encode(value);
    const length = new Uint8Array(8);
    new DataView(length.buffer).setBigUint64(0, BigInt(bytes.length), true);
    push(encoder.encode(`${name}\n`));
    push(length);
    push(bytes);
    push(encoder.encode('\n'));
  }
  const datagram = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    datagram.set(part, offset);
    offset += part.length;
  }
  return datagram;
}
