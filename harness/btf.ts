// SPDX-License-Identifier: MIT
// A kernel BTF file in miniature, for the feature checks' unit tests.

/** A BTF blob with one 4-byte type and these strings after the empty one. */
export function btfWith(strings: readonly string[]): Buffer {
  const section = Buffer.from(`\0${strings.join('\0')}\0`);
  const header = Buffer.alloc(24);
  header.writeUInt16LE(0xeb9f, 0);
  header.writeUInt8(1, 2);
  header.writeUInt32LE(24, 4);
  header.writeUInt32LE(0, 8);
  header.writeUInt32LE(4, 12);
  header.writeUInt32LE(4, 16);
  header.writeUInt32LE(section.length, 20);
  return Buffer.concat([header, Buffer.alloc(4), section]);
}
