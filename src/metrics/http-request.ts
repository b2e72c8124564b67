// SPDX-License-Identifier: MIT
// The little of HTTP/1.x that a scrape needs, pure: a request's head (its
// request line and headers, without the blank line that ends them) read into
// what the endpoint answers by, and a response's head. The endpoint accepts
// no request body: GET and HEAD have none.

export interface RequestHead {
  readonly method: string;
  /** The path of the target, without its query. */
  readonly path: string;
  readonly accept: string | undefined;
  /** Whether the connection stays open after the answer (HTTP/1.1 unless
   * "Connection: close"; HTTP/1.0 only with "Connection: keep-alive"). */
  readonly keepAlive: boolean;
  /** A body is announced (Content-Length other than 0, Transfer-Encoding). */
  readonly hasBody: boolean;
}

const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) (\S+) HTTP\/1\.([01])$/;

/** `head` read as latin1; null when it is no HTTP/1.x request head. */
export function parseRequestHead(head: string): RequestHead | null {
  // Empty lines before the request line are to be ignored (RFC 9112 2.2).
  const lines = head.replace(/^(?:\r\n)+/, '').split('\r\n');
  const match = REQUEST_LINE.exec(lines[0] ?? '');
  if (match === null) return null;
  const [, method, target, minor] = match as unknown as [string, string, string, string];
  let accept: string | undefined;
  let connection = '';
  let hasBody = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0 || /\s/.test(line[colon - 1]!)) return null;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'accept') accept = accept === undefined ? value : `${accept}, ${value}`;
    else if (name === 'connection') connection += `,${value.toLowerCase()}`;
    else if (name === 'transfer-encoding' || (name === 'content-length' && value !== '0')) hasBody = true;
  }
  const tokens = connection.split(',').map((token) => token.trim());
  const keepAlive = minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
  // An absolute-form target (http://host/path) names the path after the authority.
  const path = target.replace(/^https?:\/\/[^/]*/i, '').split('?')[0] || '/';
  return { method, path, accept, keepAlive, hasBody };
}

export const STATUS_TEXT: Readonly<Record<number, string>> = {
  200: 'OK',
  400: 'Bad Request',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
};

/** An HTTP/1.1 response head, blank line included. */
export function responseHead(status: number, headers: Readonly<Record<string, string | number>>, keepAlive: boolean): string {
  let text = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? ''}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  return `${text}${keepAlive ? '' : 'Connection: close\r\n'}\r\n`;
}
