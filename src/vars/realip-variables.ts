/**
 * The variables of ngx_http_realip_module ($realip_remote_addr,
 * $realip_remote_port: the connection's own address whatever realip made of
 * $remote_addr) and the PROXY protocol's of ngx_http_variables.c
 * ($proxy_protocol_addr, _port, _server_addr, _server_port, _tlv_NAME: not
 * found without a header's addresses; a port 0 is empty, as nginx prints it).
 */

import type { VariableRegistry } from "./registry.js";
import { proxyProtocolTlv } from "./proxy-protocol-tlv.js";
import type { VariableSource } from "./source.js";

/** nginx prints a port only when it is 1-65535. */
export function portText(port: number): string {
  return port > 0 && port < 65536 ? String(port) : "";
}

export function registerRealipVariables(registry: VariableRegistry): void {
  registry.define("realip_remote_addr", (r) => r.realipRemoteAddress ?? r.remoteAddress);
  registry.define("realip_remote_port", (r) => portText(r.realipRemotePort ?? r.remotePort));
  registry.define("proxy_protocol_addr", (r) => r.proxyProtocol?.srcAddr);
  registry.define("proxy_protocol_port", (r) => (r.proxyProtocol ? portText(r.proxyProtocol.srcPort) : undefined));
  registry.define("proxy_protocol_server_addr", (r) => r.proxyProtocol?.dstAddr);
  registry.define("proxy_protocol_server_port", (r) =>
    r.proxyProtocol ? portText(r.proxyProtocol.dstPort) : undefined,
  );
  registry.definePrefix("proxy_protocol_tlv_", (suffix) => ({ get: (r) => tlv(r, suffix), cacheable: true }));
}

function tlv(r: VariableSource, name: string): string | undefined {
  const result = proxyProtocolTlv(r.proxyProtocol, name);
  if ("value" in result) return result.value;
  if ("error" in result && result.error !== "") r.variableError?.(result.error);
  return undefined;
}
