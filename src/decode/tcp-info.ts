// SPDX-License-Identifier: MIT
// struct session_tcp_info (bpf/tcpstates.h): the tcp_info-like fields a
// session's close record and open-session records carry. Pure; the layout
// test checks TCP_INFO_LAYOUT against the object's BTF.

/** Byte offset of each field of struct session_tcp_info. */
export const TCP_INFO_LAYOUT = {
  srtt_us: 0,
  total_retrans: 4,
  segs_in: 8,
  segs_out: 12,
  total_rto: 16,
  present: 20,
} as const;
export const TCP_INFO_SIZE = 24;
/** TCP_INFO_F_RTO: the kernel's tcp_sock has total_rto (Linux 6.7). */
export const TCP_INFO_F_RTO = 1;

export interface TcpInfo {
  /** Smoothed RTT in µs; 0 before the first sample. */
  readonly srttUs: number;
  readonly totalRetrans: number;
  readonly segsIn: number;
  readonly segsOut: number;
  /** Retransmission timeouts; null where the kernel does not count them. */
  readonly totalRto: number | null;
}

export function readTcpInfo(view: DataView, offset: number): TcpInfo {
  const L = TCP_INFO_LAYOUT;
  const present = view.getUint32(offset + L.present, true);
  return {
    srttUs: view.getUint32(offset + L.srtt_us, true),
    totalRetrans: view.getUint32(offset + L.total_retrans, true),
    segsIn: view.getUint32(offset + L.segs_in, true),
    segsOut: view.getUint32(offset + L.segs_out, true),
    totalRto: present & TCP_INFO_F_RTO ? view.getUint32(offset + L.total_rto, true) : null,
  };
}

/** The JSON fields of a TcpInfo (close and open rows; null: not read). */
export interface TcpInfoJson {
  readonly srtt_us: number | null;
  readonly retrans_segs: number | null;
  readonly rto_count: number | null;
  readonly segs_in: number | null;
  readonly segs_out: number | null;
}

export const TCP_INFO_JSON_FIELDS = ['srtt_us', 'retrans_segs', 'rto_count', 'segs_in', 'segs_out'] as const;

export function tcpInfoJson(info: TcpInfo | undefined): TcpInfoJson {
  if (info === undefined) return { srtt_us: null, retrans_segs: null, rto_count: null, segs_in: null, segs_out: null };
  return { srtt_us: info.srttUs, retrans_segs: info.totalRetrans, rto_count: info.totalRto, segs_in: info.segsIn, segs_out: info.segsOut };
}
