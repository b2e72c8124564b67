// SPDX-License-Identifier: MIT
// -Y/--journal: sends encoded entries to systemd-journald's native socket.
// The socket is non-blocking so a slow journald never stalls the tracing
// loop: entries it cannot take yet wait in a bounded backlog and are retried
// a few ms later; whatever is still not delivered at exit is counted and
// reported, never dropped silently.

import { quoted } from '../quote.js';
import { constants } from 'node:os';
import { errnoName, PreflightError } from '../errors.js';
import { bindUnixDatagram, type UnixDatagramLibc } from '../ffi/unix-dgram.js';

export const JOURNAL_SOCKET_PATH = '/run/systemd/journal/socket';
/** Overrides JOURNAL_SOCKET_PATH. Meant for tests (systemd itself has no such
 * variable); e.g. a journald namespace's /run/systemd/journal.NAME/socket. */
export const JOURNAL_SOCKET_ENV = 'TCPSTATES_JOURNAL_SOCKET';
/** Entries held while journald catches up: about 5 MB at 300 bytes each. */
export const JOURNAL_BACKLOG_MAX = 16384;
const RETRY_DELAY_MS = 5;
/** How long the exit waits for journald to take the backlog. */
const CLOSE_DEADLINE_MS = 1000;

const { EAGAIN, ENOENT, ECONNREFUSED, ENAMETOOLONG } = constants.errno;

export function journalSocketPath(env: NodeJS.ProcessEnv): string {
  const override = env[JOURNAL_SOCKET_ENV];
  return override !== undefined && override !== '' ? override : JOURNAL_SOCKET_PATH;
}

export interface JournalStats {
  readonly sent: number;
  /** Entries never delivered: backlog full, journald gone, or still queued at exit. */
  readonly notDelivered: number;
}

const HINT = 'is systemd-journald running? (systemctl status systemd-journald.socket)';

/** @throws PreflightError naming the socket and what is wrong with it. */
function checkReachable(libc: UnixDatagramLibc, path: string): void {
  const fd = libc.open();
  if (fd < 0) throw new PreflightError(`-Y/--journal: cannot create a unix datagram socket: ${errnoName(-fd)}`);
  const rc = libc.connect(fd, path);
  libc.close(fd);
  if (rc === 0) return;
  const errno = -rc;
  if (errno === ENOENT) throw new PreflightError(`-Y/--journal: no systemd journal socket at ${quoted(path)}`, { hint: HINT });
  if (errno === ECONNREFUSED) throw new PreflightError(`-Y/--journal: nothing listens on the journal socket ${quoted(path)}`, { hint: HINT });
  if (errno === ENAMETOOLONG) throw new PreflightError(`-Y/--journal: socket path too long (at most 107 bytes): ${quoted(path)}`);
  throw new PreflightError(`-Y/--journal: cannot connect to the journal socket ${quoted(path)}: ${errnoName(errno)}`);
}

export class JournalWriter {
  private readonly backlog: Uint8Array[] = [];
  private backlogStart = 0;
  private sent = 0;
  private notDelivered = 0;
  private reportedErrno = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private closed = false;

  private constructor(
    private readonly libc: UnixDatagramLibc,
    private readonly fd: number,
    private readonly path: string,
    private readonly onProblem: (message: string, fields: Record<string, number>) => void,
  ) {}

  /**
   * Checks that a journal listens at `path` (so -Y fails at start, before
   * anything is attached) and opens the sending socket.
   * `onProblem` hears the first failure of each kind while running.
   * @throws PreflightError
   */
  static open(
    path: string,
    onProblem: (message: string, fields: Record<string, number>) => void,
    libc: UnixDatagramLibc = bindUnixDatagram(),
  ): JournalWriter {
    checkReachable(libc, path);
    const fd = libc.open();
    if (fd < 0) throw new PreflightError(`-Y/--journal: cannot create a unix datagram socket: ${errnoName(-fd)}`);
    return new JournalWriter(libc, fd, path, onProblem);
  }

  get pending(): number {
    return this.backlog.length - this.backlogStart;
  }

  /** Queues one datagram and sends what the socket takes now. */
  send(datagram: Uint8Array): void {
    if (this.closed) return;
    if (this.pending >= JOURNAL_BACKLOG_MAX) {
      this.notDelivered++;
      if (this.reportedErrno !== EAGAIN) {
        this.reportedErrno = EAGAIN;
        this.onProblem(`journal: dropping entries: journald is not keeping up (${JOURNAL_BACKLOG_MAX} waiting)`, {
          journal_backlog: JOURNAL_BACKLOG_MAX,
        });
      }
      return;
    }
    this.backlog.push(datagram);
    this.flush();
  }

  /** Sends queued datagrams until the socket would block; true when none is left. */
  flush(): boolean {
    while (this.backlogStart < this.backlog.length) {
      const datagram = this.backlog[this.backlogStart] as Uint8Array;
      const rc = this.libc.sendTo(this.fd, datagram, this.path);
      if (rc === -EAGAIN) {
        this.scheduleRetry();
        return false;
      }
      this.backlogStart++;
      if (rc >= 0) {
        this.sent++;
      } else {
        this.notDelivered++;
        if (this.reportedErrno !== -rc) {
          this.reportedErrno = -rc;
          this.onProblem(`journal: cannot send to ${this.path}: ${errnoName(-rc)}`, { errno: -rc });
        }
      }
    }
    // Drop the sent prefix without shifting on every datagram.
    this.backlog.length = 0;
    this.backlogStart = 0;
    return true;
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== null || this.closed) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, RETRY_DELAY_MS);
  }

  /** Gives journald up to `deadlineMs` to take the backlog, then closes. */
  close(deadlineMs = CLOSE_DEADLINE_MS): JournalStats {
    if (!this.closed) {
      if (this.retryTimer !== null) clearTimeout(this.retryTimer);
      this.retryTimer = null;
      const giveUpAt = Date.now() + deadlineMs;
      const sleeper = new Int32Array(new SharedArrayBuffer(4));
      while (!this.flushWithoutRetry() && Date.now() < giveUpAt) Atomics.wait(sleeper, 0, 0, 1);
      this.notDelivered += this.pending;
      this.backlog.length = 0;
      this.backlogStart = 0;
      this.closed = true;
      this.libc.close(this.fd);
    }
    return { sent: this.sent, notDelivered: this.notDelivered };
  }

  private flushWithoutRetry(): boolean {
    const done = this.flush();
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    return done;
  }
}
