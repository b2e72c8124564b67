// The open-session data source: what an interval's pass over the tracked sockets yields.
// `tcplife --interval` prints it as rows; `tcplife --top` draws it as a screen.

/** One open TCP session as seen by an interval's pass. */
export interface OpenSession {
  /** Stable id for the socket's life (its socket cookie, decimal). */
  key: string;
  pid: number;
  comm: string;
  family: 4 | 6;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  /** Kernel TCP state name, e.g. "ESTABLISHED", "CLOSE_WAIT". */
  state: string;
  /** Age so far; a lower bound when startSeen is false (seeded by --existing). */
  ageMs: number;
  /** False when the session predates the trace (its start time is unknowable). */
  startSeen: boolean;
  /** Totals since the connection's start (bytes_acked / bytes_received). */
  txBytes: number;
  rxBytes: number;
  /** Moved since the previous pass (the first pass: since the trace saw it). */
  txDeltaBytes: number;
  rxDeltaBytes: number;
  /** Smoothed RTT in microseconds (tcp_sock.srtt_us >> 3), when the socket is a full tcp_sock. */
  srttUs?: number;
  totalRetrans?: number;
}

/** One interval's pass. */
export interface OpenSessionsSnapshot {
  /** CLOCK_MONOTONIC ns of the pass (the clock of the tool's event timestamps). */
  atNs: bigint;
  sessions: OpenSession[];
  /** Sessions that reached ESTABLISHED (or were seeded) since the previous snapshot. */
  openedInInterval: number;
  /** Sessions closed since the previous snapshot. */
  closedInInterval: number;
  /** Events the kernel or the reader lost so far (cumulative). */
  eventsLost: number;
}

/** What the tool hands to a view: a snapshot every interval, and the end. */
export interface OpenSessionsSource {
  /** Called once per interval with the pass's snapshot. */
  onSnapshot(listener: (snapshot: OpenSessionsSnapshot) => void): void;
}
