/** WebSocket frames as a test peer writes them (RFC 6455 5.2). */

const EMPTY = Buffer.alloc(0);

/** A WebSocket frame; masked (as a client must send) when `mask` is given. */
export function frame(opcode: number, payload: Buffer, mask?: Buffer, fin = true): Buffer {
  const len = payload.length;
  const lengthBytes =
    len < 126
      ? Buffer.from([len])
      : len < 65536
        ? Buffer.from([126, len >> 8, len & 0xff])
        : Buffer.concat([Buffer.from([127]), bigLength(len)]);
  if (mask) lengthBytes[0] = lengthBytes[0]! | 0x80;
  const body = mask ? Buffer.from(payload.map((byte, i) => byte ^ mask[i % 4]!)) : payload;
  return Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode]), lengthBytes, mask ?? EMPTY, body]);
}

function bigLength(len: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64BE(BigInt(len));
  return out;
}
