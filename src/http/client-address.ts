/** A client's address as nginx reports it ($remote_addr, $server_addr). */

/** "::ffff:127.0.0.1" from a dual-stack socket is 127.0.0.1 to nginx. */
export function stripMappedV4(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
