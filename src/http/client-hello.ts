/**
 * The server name (SNI) of a TLS ClientHello, read from the first bytes of a
 * connection. Node reports no name for a resumed TLS 1.2 session (its SNI
 * hook runs with the certificate, which a resumption skips); nginx reports the
 * name sent, so $ssl_server_name comes from here. Bounds are checked at every
 * step: a short or malformed hello gives undefined.
 */

export function clientHelloServerName(data: Buffer): string | undefined {
  // TLS record: type 22 (handshake), version, length; then the handshake: type 1 (ClientHello), length.
  if (data.length < 9 || data[0] !== 0x16 || data[5] !== 0x01) return undefined;
  const end = Math.min(data.length, 5 + data.readUInt16BE(3));
  let at = 9 + 2 + 32; // client version, random
  if (at >= end) return undefined;
  at += 1 + data[at]!; // session id
  if (at + 2 > end) return undefined;
  at += 2 + data.readUInt16BE(at); // cipher suites
  if (at + 1 > end) return undefined;
  at += 1 + data[at]!; // compression methods
  if (at + 2 > end) return undefined;
  const extensionsEnd = Math.min(end, at + 2 + data.readUInt16BE(at));
  at += 2;
  while (at + 4 <= extensionsEnd) {
    const type = data.readUInt16BE(at);
    const length = data.readUInt16BE(at + 2);
    at += 4;
    if (type === 0 && at + 5 <= extensionsEnd && data[at + 2] === 0) {
      // server_name_list length, name type 0 (host_name), name length, name.
      const nameLength = data.readUInt16BE(at + 3);
      if (at + 5 + nameLength > extensionsEnd) return undefined;
      return data.toString("latin1", at + 5, at + 5 + nameLength);
    }
    at += length;
  }
  return undefined;
}
