// SPDX-License-Identifier: MIT
// A stand-in for systemd-journald in the tests: python3 binds a real
// AF_UNIX datagram socket (an implementation independent of ours) and
// prints each datagram base64-encoded on a line; decodeJournalDatagram
// parses the native protocol back into fields, text and binary forms alike.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adopt } from './children.js';
import { sleep } from './system.js';

const RECEIVER = String.raw`
import base64, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    data = s.recv(1 << 20)
    print(base64.b64encode(data).decode(), flush=True)
`;

export type JournalEntry = [name: string, value: string][];

/** Parses one native-protocol datagram. @throws on malformed input. */
export function decodeJournalDatagram(datagram: Uint8Array): JournalEntry {
  const fields: JournalEntry = [];
  const text = new TextDecoder('utf-8', { fatal: true });
  let offset = 0;
  while (offset < datagram.length) {
    const newline = datagram.indexOf(0x0a, offset);
    if (newline < 0) throw new Error(`unterminated field at byte ${offset}`);
    const line = datagram.subarray(offset, newline);
    const equals = line.indexOf(0x3d);
    if (equals >= 0) {
      fields.push([text.decode(line.subarray(0, equals)), text.decode(line.subarray(equals + 1))]);
      offset = newline + 1;
      continue;
    }
    // Binary form: NAME\n, u64 LE length, bytes, \n.
    const name = text.decode(line);
    const view = new DataView(datagram.buffer, datagram.byteOffset + newline + 1, 8);
    const length = Number(view.getBigUint64(0, true));
    const start = newline + 9;
    if (datagram[start + length] !== 0x0a) throw new Error(`binary field ${name} not followed by a newline`);
    fields.push([name, text.decode(datagram.subarray(start, start + length))]);
    offset = start + length + 1;
  }
  return fields;
}

export class JournalReceiver {
  readonly datagrams: Uint8Array[] = [];
  private constructor(
    private readonly child: ChildProcess,
    readonly directory: string,
    readonly path: string,
  ) {}

  static async start(): Promise<JournalReceiver> {
    const directory = mkdtempSync(join(tmpdir(), 'tcpstates-journal-'));
    const path = join(directory, 'socket');
    const child = adopt(spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const receiver = new JournalReceiver(child, directory, path);
    let partial = '';
    let ready: () => void = () => {};
    const readyPromise = new Promise<void>((resolve) => (ready = resolve));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'ready') ready();
        else receiver.datagrams.push(new Uint8Array(Buffer.from(line, 'base64')));
      }
    });
    const failed = new Promise<never>((_, reject) =>
      child.on('exit', (code) => reject(new Error(`journal receiver exited with ${code}`))),
    );
    await Promise.race([readyPromise, failed]);
    failed.catch(() => {});
    return receiver;
  }

  entries(): JournalEntry[] {
    return this.datagrams.map(decodeJournalDatagram);
  }

  /** Polls until `count` datagrams arrived or timeoutMs passed. */
  async waitForCount(count: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.datagrams.length < count && Date.now() < deadline) await sleep(10);
  }

  stop(): void {
    this.child.kill('SIGKILL');
    rmSync(this.directory, { recursive: true, force: true });
  }
}
