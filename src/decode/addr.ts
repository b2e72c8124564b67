// SPDX-License-Identifier: MIT
// Address bytes (network order) to text, exactly as glibc's inet_ntop prints
// them (which is what bcc's socket.inet_ntop calls): IPv6 zero runs of two or
// more words compressed (the first longest), lowercase hex, and the embedded
// IPv4 forms ::a.b.c.d and ::ffff:a.b.c.d.

export const AF_INET = 2;
export const AF_INET6 = 10;

export function ipv4ToString(view: DataView, offset: number): string {
  return `${view.getUint8(offset)}.${view.getUint8(offset + 1)}.${view.getUint8(offset + 2)}.${view.getUint8(offset + 3)}`;
}

export function ipv6ToString(view: DataView, offset: number): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(view.getUint16(offset + 2 * i, false));

  // The first longest run of zero words, if at least two long.
  let bestBase = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestBase = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) bestBase = -1;

  if (bestBase === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff))) {
    const prefix = bestLength === 6 ? '::' : '::ffff:';
    return prefix + ipv4ToString(view, offset + 12);
  }

  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      text += i === 0 ? '::' : ':';
      i += bestLength - 1;
      continue;
    }
    text += (words[i] as number).toString(16);
    if (i < 7) text += ':';
  }
  return text;
}
