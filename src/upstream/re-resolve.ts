/**
 * `server NAME resolve` at run time, after ngx_http_upstream_zone_module
 * (nginx 1.27.3+): each such server's name is asked of the group's resolver
 * when the group starts, and again a second after the answer expires (its
 * smallest TTL, or the resolver's `valid=`). A new answer replaces the
 * server's peers (UpstreamGroup.setAddresses), sorted by address. A failed
 * lookup is logged as nginx logs it (`NAME could not be resolved (2: Server
 * failure)`, error), keeps the addresses known so far and is tried again
 * after resolver_timeout (at least 1 s); "Host not found" (NXDOMAIN, or no
 * address) leaves the server without peers, as nginx does, and is asked
 * again after `valid=` or 10 s (how long nginx's resolver keeps a negative
 * answer) and a second.
 */

import { isIP } from "node:net";
import type { UpstreamAddress, UpstreamServerConf } from "../config/model.js";
import { runtimeName } from "../config/modules/resolver.js";
import type { ErrorLog } from "../log/error-log.js";
import { dnsClient, ResolveError, type DnsClient } from "./dns.js";
import type { UpstreamGroup } from "./group.js";

/** The longest a starting worker waits for the first answers before it says it is ready. */
const FIRST_ANSWERS_WAIT_MS = 5000;

/** How long nginx's resolver keeps a "Host not found" answer without valid=. */
const NEGATIVE_VALID_MS = 10_000;

export class ReResolver {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private timeoutMs = 30_000;
  private firstAnswers: Array<Promise<void>> = [];

  constructor(
    private readonly group: UpstreamGroup,
    private readonly servers: readonly UpstreamServerConf[],
    private readonly log: ErrorLog,
  ) {}

  start(): void {
    const conf = this.group.conf;
    if (!conf.resolver) return;
    this.timeoutMs = conf.resolverTimeoutMs ?? 30_000;
    const client = dnsClient(conf.resolver, this.timeoutMs);
    this.servers.forEach((server, index) => {
      const name = server.resolve ? runtimeName(server.name) : undefined;
      if (name) this.firstAnswers.push(this.ask(client, index, name.host, name.port, ""));
    });
  }

  /**
   * Every server's first lookup has ended (answered or failed), or 5 s have
   * passed: a new worker waits for it before it takes connections, so that
   * it starts with peers, as nginx's workers start with the addresses of the
   * previous configuration's zone.
   */
  async firstLookups(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const cap = new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_ANSWERS_WAIT_MS)));
    await Promise.race([Promise.all(this.firstAnswers), cap]);
    clearTimeout(timer);
  }

  stop(): void {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async ask(client: DnsClient, index: number, host: string, port: number, known: string): Promise<void> {
    let next = known;
    let delayMs: number;
    try {
      const answer = await client.resolve(host);
      if (this.stopped) return;
      const addresses = [...answer.addresses].sort(compareAddresses).map((address) => inet(address, port));
      next = addresses.map((address) => address.text).join(" ");
      if (next !== known) this.group.setAddresses(index, addresses);
      delayMs = Math.max(answer.expiresMs - Date.now(), 0) + 1000;
    } catch (err) {
      if (this.stopped) return;
      const failure = err instanceof ResolveError ? err : new ResolveError(110, "Operation timed out");
      this.log.log("error", `${host} could not be resolved (${failure.code}: ${failure.text})`);
      if (failure.code === 3) {
        if (known !== "") this.group.setAddresses(index, []);
        next = "";
        delayMs = (client.conf.validMs ?? NEGATIVE_VALID_MS) + 1000;
      } else delayMs = Math.max(this.timeoutMs, 1000);
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.ask(client, index, host, port, next);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }
}

/** nginx's order of resolved addresses: IPv4 before IPv6, then by address. */
function compareAddresses(a: string, b: string): number {
  const bytes = (address: string): number[] =>
    isIP(address) === 4 ? address.split(".").map(Number) : [256, ...expandV6(address)];
  const x = bytes(a);
  const y = bytes(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

function expandV6(address: string): number[] {
  const [head = "", tail] = address.split("::");
  const part = (text: string): number[] => (text === "" ? [] : text.split(":").map((group) => parseInt(group, 16)));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function inet(host: string, port: number): UpstreamAddress {
  return { kind: "inet", host, port, text: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}
