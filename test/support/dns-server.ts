/**
 * A tiny DNS server for the resolver tests: UDP on 127.0.0.1 (port from the
 * kernel), answering A queries from a table the test changes while it runs;
 * AAAA gets an empty answer (NOERROR, no records). A name can instead answer
 * NXDOMAIN, SERVFAIL, or nothing at all (a timeout).
 */

import { createSocket, type Socket } from "node:dgram";

export type DnsBehaviour =
  | { readonly kind: "a"; readonly addresses: readonly string[]; readonly ttl: number }
  | { readonly kind: "nxdomain" }
  | { readonly kind: "servfail" }
  | { readonly kind: "drop" };

export interface DnsServer {
  readonly port: number;
  /** What a name answers (names are matched without case); unknown names answer NXDOMAIN. */
  set(name: string, behaviour: DnsBehaviour): void;
  /** A queries received for a name. */
  queries(name: string): number;
  close(): Promise<void>;
}

const TYPE_A = 1;

export async function startDnsServer(): Promise<DnsServer> {
  const table = new Map<string, DnsBehaviour>();
  const counts = new Map<string, number>();
  const socket: Socket = createSocket("udp4");
  socket.on("error", () => undefined);
  socket.on("message", (message, remote) => {
    const query = parseQuery(message);
    if (!query) return;
    const name = query.name.toLowerCase();
    if (query.type === TYPE_A) counts.set(name, (counts.get(name) ?? 0) + 1);
    const behaviour = table.get(name) ?? { kind: "nxdomain" };
    if (behaviour.kind === "drop") return;
    const rcode = behaviour.kind === "nxdomain" ? 3 : behaviour.kind === "servfail" ? 2 : 0;
    const answers = behaviour.kind === "a" && query.type === TYPE_A ? behaviour.addresses : [];
    const ttl = behaviour.kind === "a" ? behaviour.ttl : 0;
    socket.send(buildAnswer(message, query.questionEnd, rcode, answers, ttl), remote.port, remote.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    port: socket.address().port,
    set: (name, behaviour) => void table.set(name.toLowerCase(), behaviour),
    queries: (name) => counts.get(name.toLowerCase()) ?? 0,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

/** The first question of a query: its name, type, and where it ends. */
export function parseQuery(message: Buffer): { name: string; type: number; questionEnd: number } | undefined {
  if (message.length < 12 || message.readUInt16BE(4) < 1) return undefined;
  const labels: string[] = [];
  let at = 12;
  for (;;) {
    if (at >= message.length) return undefined;
    const length = message[at]!;
    at++;
    if (length === 0) break;
    if (length > 63 || at + length > message.length) return undefined;
    labels.push(message.toString("latin1", at, at + length));
    at += length;
  }
  if (at + 4 > message.length) return undefined;
  return { name: labels.join("."), type: message.readUInt16BE(at), questionEnd: at + 4 };
}

/** The response: the query's id and question, the rcode, and one A record per address. */
export function buildAnswer(
  query: Buffer,
  questionEnd: number,
  rcode: number,
  addresses: readonly string[],
  ttl: number,
): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.readUInt16BE(0), 0);
  // QR, the query's RD, RA; the rcode.
  header.writeUInt16BE(0x8000 | (query.readUInt16BE(2) & 0x0100) | 0x0080 | rcode, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(addresses.length, 6);
  const records = addresses.map((address) => {
    const record = Buffer.alloc(16);
    record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    record.writeUInt16BE(TYPE_A, 2);
    record.writeUInt16BE(1, 4); // IN
    record.writeUInt32BE(ttl, 6);
    record.writeUInt16BE(4, 10);
    address.split(".").forEach((octet, i) => record.writeUInt8(Number(octet), 12 + i));
    return record;
  });
  return Buffer.concat([header, query.subarray(12, questionEnd), ...records]);
}
