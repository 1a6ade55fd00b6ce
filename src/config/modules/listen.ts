/**
 * `listen address[:port] [default_server] [ssl] [http2] [proxy_protocol] [ipv6only=on|off] [backlog=N] …`,
 * after ngx_http_core_listen() and ngx_parse_url().
 */

import type { SourcePlace } from "../../core/errors.js";
import type { BuildScope } from "../build-scope.js";
import type { DirectiveNode } from "../parser.js";
import { placeOf } from "../table.js";
import { configWarning, valueError } from "../values.js";
import { checkTuningListenParameter } from "./tuning.js";

export interface ListenConf {
  /** "" for all addresses (nginx's `listen 8020` is *:8020, IPv4 only). */
  readonly host: string;
  readonly port: number;
  readonly defaultServer: boolean;
  readonly ipv6only: boolean;
  readonly backlog: number;
  /** `ssl`: connections to this address speak TLS (src/http/tls-accept.ts). */
  readonly ssl?: boolean;
  /** `proxy_protocol`: connections start with a PROXY protocol header (src/http/proxy-protocol.ts). */
  readonly proxyProtocol?: boolean;
  /** `http2` (deprecated since nginx 1.25.1 for the `http2` directive): the address speaks HTTP/2. */
  readonly http2?: true;
  /** As nginx names it in messages: "0.0.0.0:8020", "[::]:8020". */
  readonly text: string;
  readonly place: SourcePlace;
}

/** Parameters nginx has that wsgate does not implement (yet): refused by name. */
const UNSUPPORTED_PARAMETERS = new Set(["quic"]);

export function parseListen(scope: BuildScope, node: DirectiveNode): ListenConf {
  const [address, ...parameters] = node.args as [string, ...string[]];
  const { host, port } = parseAddress(node, address);
  let defaultServer = false;
  let ipv6only = true;
  let backlog = 511;
  let ssl = false;
  let proxyProtocol = false;
  let http2 = false;
  for (const parameter of parameters) {
    const [key, value] = splitParameter(parameter);
    if (key === "default_server" || key === "default") defaultServer = true;
    else if (key === "ssl" && value === undefined) ssl = true;
    else if (key === "proxy_protocol" && value === undefined) proxyProtocol = true;
    else if (parameter === "http2") {
      configWarning(scope, node, `the "listen ... http2" directive is deprecated, use the "http2" directive instead`);
      http2 = true;
    } else if (key === "ipv6only" && (value === "on" || value === "off")) ipv6only = value === "on";
    else if (key === "backlog" && value !== undefined && /^-?\d+$/.test(value) && Number(value) !== 0)
      backlog = Number(value);
    else if (key === "backlog") throw valueError(node, `invalid backlog "${value ?? ""}"`);
    else if (checkTuningListenParameter(node, parameter)) continue;
    else if (UNSUPPORTED_PARAMETERS.has(key))
      throw valueError(node, `the "${key}" parameter of "listen" is not supported by wsgate`);
    else throw valueError(node, `invalid parameter "${parameter}"`);
  }
  const text = host.includes(":") ? `[${host}]:${port}` : `${host || "0.0.0.0"}:${port}`;
  return {
    host,
    port,
    defaultServer,
    ipv6only,
    backlog,
    ...(ssl ? { ssl } : {}),
    ...(proxyProtocol ? { proxyProtocol } : {}),
    ...(http2 ? { http2 } : {}),
    text,
    place: placeOf(node),
  };
}

function splitParameter(parameter: string): [string, string | undefined] {
  const eq = parameter.indexOf("=");
  return eq === -1 ? [parameter, undefined] : [parameter.slice(0, eq), parameter.slice(eq + 1)];
}

/** "8020", "*:8020", "127.0.0.1:8020", "127.0.0.1", "[::]:8020", "localhost:8020". */
function parseAddress(node: DirectiveNode, address: string): { host: string; port: number } {
  if (address.startsWith("unix:")) {
    throw valueError(node, `unix domain sockets in "listen" are not supported by wsgate`);
  }
  let host: string;
  let portText: string | undefined;
  if (address.startsWith("[")) {
    const close = address.indexOf("]");
    if (close === -1) throw valueError(node, `invalid IPv6 address in "${address}" of the "listen" directive`);
    host = address.slice(1, close);
    const rest = address.slice(close + 1);
    if (rest !== "" && !rest.startsWith(":"))
      throw valueError(node, `invalid host in "${address}" of the "listen" directive`);
    portText = rest === "" ? undefined : rest.slice(1);
  } else if (/^\d+$/.test(address)) {
    host = "";
    portText = address;
  } else {
    const colon = address.lastIndexOf(":");
    host = colon === -1 ? address : address.slice(0, colon);
    portText = colon === -1 ? undefined : address.slice(colon + 1);
  }
  if (host === "*") host = "";
  const port = portText === undefined ? 80 : Number(portText);
  if (portText !== undefined && (!/^\d+$/.test(portText) || port < 1 || port > 65535)) {
    throw valueError(node, `invalid port in "${address}" of the "listen" directive`);
  }
  return { host, port };
}
