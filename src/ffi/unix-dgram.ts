// SPDX-License-Identifier: MIT
// AF_UNIX datagram sockets through libc, for -Y/--journal. Node has no unix
// datagram sockets (node:dgram is UDP only, node:net is streams only), and
// the journal's native protocol is one datagram per entry on a unix socket.
// Kept apart from libbpf.ts so the journal never needs libbpf; it uses
// libc's socket, connect, sendto and close (bound in libc.ts) and reports
// failures as errno values for the caller to explain.

import { constants } from 'node:os';
import { lastErrno, libc } from './libc.js';

// from include/linux/socket.h, include/linux/net.h, asm-generic/fcntl.h
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
/** struct sockaddr_un: sa_family_t sun_family; char sun_path[108]. */
const SUN_PATH_BYTES = 108;
const { ENAMETOOLONG } = constants.errno;

export interface UnixDatagramLibc {
  /** A non-blocking, close-on-exec AF_UNIX datagram socket; fd, or -errno. */
  open(): number;
  /** connect(2) to a socket path; 0 or -errno (ENOENT: no such socket file,
   * ECONNREFUSED: nobody bound to it). */
  connect(fd: number, path: string): number;
  /** sendto(2) one datagram to `path`; bytes sent, or -errno (EAGAIN: the
   * receiver's queue is full). */
  sendTo(fd: number, datagram: Uint8Array, path: string): number;
  close(fd: number): void;
}

/** struct sockaddr_un for `path`, or null when the path does not fit. */
export function sockaddrUn(path: string): Uint8Array | null {
  const pathBytes = new TextEncoder().encode(path);
  if (pathBytes.length >= SUN_PATH_BYTES) return null; // room for the NUL
  const address = new Uint8Array(2 + SUN_PATH_BYTES);
  new DataView(address.buffer).setUint16(0, AF_UNIX, true);
  address.set(pathBytes, 2);
  return address;
}

let bound: UnixDatagramLibc | null = null;

/** Binds the libc calls once. libc is always there, so this cannot fail in
 * a way worth a message of its own. */
export function bindUnixDatagram(): UnixDatagramLibc {
  if (bound !== null) return bound;
  const c = libc();
  const addresses = new Map<string, Uint8Array | null>();
  const addressOf = (path: string): Uint8Array | null => {
    if (!addresses.has(path)) addresses.set(path, sockaddrUn(path));
    return addresses.get(path) ?? null;
  };
  bound = {
    open() {
      const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) as number;
      return fd >= 0 ? fd : -lastErrno();
    },
    connect(fd, path) {
      const address = addressOf(path);
      if (address === null) return -ENAMETOOLONG;
      return (c.connect(fd, address, address.length) as number) === 0 ? 0 : -lastErrno();
    },
    sendTo(fd, datagram, path) {
      const address = addressOf(path);
      if (address === null) return -ENAMETOOLONG;
      const sent = Number(c.sendto(fd, datagram, datagram.length, 0, address, address.length));
      return sent >= 0 ? sent : -lastErrno();
    },
    close(fd) {
      c.close(fd);
    },
  };
  return bound;
}
