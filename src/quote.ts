// SPDX-License-Identifier: MIT
// The one quoting helper: every echo of a user's text (an option value, a
// path, a process name in a message) goes through it, so that a message stays
// one bounded line with no control character reaching a terminal or a log.

/** Longest piece of a user's value echoed in a message: a 131 KB argument
 * must not become a 131 KB error line. */
export const SHOWN_VALUE_MAX = 40;

function head(text: string): string {
  const cut = text.slice(0, SHOWN_VALUE_MAX);
  // Never half a surrogate pair.
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** `text` for a message, cut when long: "12345678...(131072 characters)". */
export function shown(text: string): string {
  return text.length <= SHOWN_VALUE_MAX ? text : `${head(text)}... (${text.length} characters)`;
}

/** `text` quoted for a message, control characters escaped (so that the
 * message stays one line), cut when long: JSON's quoting, as jsonText. */
export function quoted(text: string): string {
  if (text.length <= SHOWN_VALUE_MAX) return jsonText(text);
  return `${jsonText(head(text)).slice(0, -1)}..." (${text.length} characters)`;
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;

/** `text` (a process name in a row) with each control character, C0, DEL
 * and C1, shown as "?", as ps(1) shows them: a name cannot break a row or
 * reach the terminal as an escape sequence, and keeps its width. Ordinary
 * names come back as they are, after one test. */
export function printable(text: string): string {
  return CONTROL.test(text) ? text.replace(CONTROLS, '?') : text;
}

/** `text` (a message built around a user's text) with each control character
 * written as its \uXXXX escape: the last guard of a message's one line. */
export function escapeControls(text: string): string {
  return CONTROL.test(text) ? text.replace(CONTROLS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : text;
}

/** `value` as JSON, with DEL and the C1 controls escaped too (JSON.stringify
 * escapes only C0: escapeControls then finds only DEL and C1): a process or cgroup
 * name in a JSON row cannot reach a terminal as an escape sequence (0x9B is
 * a CSI on some). The same value to any JSON parser. */
export function jsonText(value: unknown): string {
  return escapeControls(JSON.stringify(value));
}
