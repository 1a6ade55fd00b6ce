/**
 * `server NAME resolve` at run time (nginx 1.27.3+, ngx_http_upstream_zone's
 * resolve timer): each such server's name is asked of the group's resolver
 * when the group starts and again when the answer expires (its TTL, or the
 * resolver's `valid=`; at least a second later). A new answer replaces the
 * server's peers (UpstreamGroup.setAddresses). A failed lookup is logged as
 * nginx logs it (`NAME could not be resolved (110: Operation timed out)`,
 * error) and keeps the addresses known so far, except "Host not found" (the
 * name is gone: NXDOMAIN or no address), which leaves the server without
 * peers, as nginx does; it is asked again after `valid=` or 10 s.
 */

import { isIP } from "node:net";
import type { UpstreamAddress, UpstreamServerConf } from "../config/model.js";
import { runtimeName } from "../config/modules/resolver.js";
import type { ErrorLog } from "../log/error-log.js";
import { dnsClient, ResolveError, type DnsClient } from "./dns.js";
import type { UpstreamGroup } from "./group.js";

/** What nginx's resolver waits before asking again after a failure, without valid= (seconds). */
const RETRY_AFTER_FAILURE_MS = 10_000;

export class ReResolver {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(
    private readonly group: UpstreamGroup,
    private readonly servers: readonly UpstreamServerConf[],
    private readonly log: ErrorLog,
  ) {}

  start(): void {
    const conf = this.group.conf;
    if (!conf.resolver) return;
    const client = dnsClient(conf.resolver, conf.resolverTimeoutMs ?? 30_000);
    this.servers.forEach((server, index) => {
      const name = server.resolve ? runtimeName(server.name) : undefined;
      if (name) void this.ask(client, index, name.host, name.port, "");
    });
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
      const addresses = answer.addresses.map((address) => inet(address, port));
      next = addresses
        .map((address) => address.text)
        .sort()
        .join(" ");
      if (next !== known) this.group.setAddresses(index, addresses);
      delayMs = Math.max(answer.expiresMs - Date.now(), 1000);
    } catch (err) {
      if (this.stopped) return;
      const failure = err instanceof ResolveError ? err : new ResolveError(110, "Operation timed out");
      this.log.log("error", `${host} could not be resolved (${failure.code}: ${failure.text})`);
      if (failure.code === 3 && known !== "") {
        next = "";
        this.group.setAddresses(index, []);
      }
      delayMs = client.conf.validMs ?? RETRY_AFTER_FAILURE_MS;
      delayMs = Math.max(delayMs, 1000);
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.ask(client, index, host, port, next);
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
  }
}

function inet(host: string, port: number): UpstreamAddress {
  return { kind: "inet", host, port, text: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}
