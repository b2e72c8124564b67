export interface OpenSession { key: string; pid: number; comm: string; family: 4 | 6;
  saddr: string; sport: number; daddr: string; dport: number; state: string; ageMs: number; startSeen: boolean;
  txBytes: number; rxBytes: number; txDeltaBytes: number; rxDeltaBytes: number; srttUs?: number; totalRetrans?: number }
export interface OpenSessionsSnapshot { atNs: bigint; sessions: OpenSession[]; openedInInterval: number; closedInInterval: number; eventsLost: number }
