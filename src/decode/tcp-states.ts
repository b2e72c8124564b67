// SPDX-License-Identifier: MIT
// TCP state names, from include/net/tcp_states.h (as bcc's tcpstate2str).

/** Index: the state's number; 0 is not a state. */
export const STATE_NAMES: readonly string[] = [
  '', // 0 is not a state
  'ESTABLISHED',
  'SYN_SENT',
  'SYN_RECV',
  'FIN_WAIT1',
  'FIN_WAIT2',
  'TIME_WAIT',
  'CLOSE',
  'CLOSE_WAIT',
  'LAST_ACK',
  'LISTEN',
  'CLOSING',
  'NEW_SYN_RECV',
];

export const TCP_ESTABLISHED = 1;
export const TCP_SYN_SENT = 2;
export const TCP_SYN_RECV = 3;
export const TCP_CLOSE = 7;
export const TCP_LISTEN = 10;

/** The state's name; an unknown number prints as the number, as bcc does. */
export function stateName(state: number): string {
  return (state > 0 && STATE_NAMES[state]) || String(state);
}

/** The state's number from its name (the inverse of stateName), or 0 for a
 * name that is not a state's. */
export function stateNumber(name: string): number {
  const index = STATE_NAMES.indexOf(name);
  return index > 0 ? index : 0;
}
