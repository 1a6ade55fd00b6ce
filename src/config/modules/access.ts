/**
 * ngx_http_access_module: `allow` and `deny`, checked in order in the access
 * phase; a level with any rule replaces the rules it would inherit.
 */

import { isIPv4, isIPv6 } from "node:net";
import type { ConfModule } from "../module.js";
import type { DirectiveSpec } from "../table.js";
import { configWarning, setOnce, valueError } from "../values.js";
import type { BuildScope } from "../build-scope.js";
import type { DirectiveNode } from "../parser.js";

/** nginx's contexts for allow/deny (NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_HTTP_LMT_CONF). */
const ACCESS_CONTEXTS = ["http", "server", "location", "limit_except"] as const;

export interface AccessLocConf {
  /** allow/deny lines of the nearest level that has any, in order. */
  accessRules: readonly AccessRule[];
  /** The core module's `satisfy`: whether every access check must pass, or one is enough. */
  satisfy: "all" | "any";
}

/**
 * `allow` / `deny`: an address with a prefix length (IPv4 or IPv6, the
 * address's low bits cleared), `all`, or `unix:`.
 */
export interface AccessRule {
  readonly allow: boolean;
  readonly match:
    | { readonly kind: "all" }
    | { readonly kind: "unix" }
    | { readonly kind: "cidr"; readonly family: 4 | 6; readonly bytes: Uint8Array; readonly prefix: number };
}

export const ACCESS_MODULE: ConfModule<AccessLocConf> = {
  name: "ngx_http_access_module",
  directives: [accessRow("allow", true), accessRow("deny", false), satisfyRow()],
  createLoc: () => ({ accessRules: [], satisfy: "all" }),
};

/** ngx_http_core_module's `satisfy all|any` (ngx_conf_set_enum_slot: any case, once per level). */
function satisfyRow(): DirectiveSpec {
  return {
    name: "satisfy",
    contexts: ["http", "server", "location"],
    args: [1],
    handle: (scope, node) => {
      const value = node.args[0]!;
      const lower = value.toLowerCase();
      if (lower !== "all" && lower !== "any") throw valueError(node, `invalid value "${value}"`);
      setOnce(scope.loc!, "satisfy", lower, node);
    },
  };
}

function accessRow(name: string, allow: boolean): DirectiveSpec {
  return {
    name,
    contexts: ACCESS_CONTEXTS,
    args: [1],
    handle: (scope, node) => {
      const list = (scope.loc!.accessRules ??= []) as AccessRule[];
      list.push({ allow, match: parseRule(scope, node) });
    },
  };
}

/** ngx_http_access_rule(): "all", "unix:", or ngx_ptocidr()'s address[/prefix]. */
function parseRule(scope: BuildScope, node: DirectiveNode): AccessRule["match"] {
  const text = node.args[0]!;
  if (text === "all") return { kind: "all" };
  if (text === "unix:") return { kind: "unix" };
  const parsed = parseCidrBits(text);
  if (!parsed) throw valueError(node, `invalid parameter "${text}"`);
  if (parsed.lowBitsCleared) configWarning(scope, node, `low address bits of ${text} are meaningless`);
  return parsed.match;
}

type CidrMatch = Extract<AccessRule["match"], { kind: "cidr" }>;

/** address or address/prefix; the low bits past the prefix are cleared (nginx warns that they are meaningless). */
export function parseCidr(text: string): CidrMatch | undefined {
  return parseCidrBits(text)?.match;
}

/** parseCidr(), and whether any bit past the prefix was set (ngx_ptocidr()'s NGX_DONE). */
export function parseCidrBits(text: string): { match: CidrMatch; lowBitsCleared: boolean } | undefined {
  const slash = text.indexOf("/");
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : undefined;
  if (family === undefined) return undefined;
  const bits = family === 4 ? 32 : 128;
  let prefix = bits;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d+$/.test(digits) || Number(digits) > bits) return undefined;
    prefix = Number(digits);
  }
  const bytes = addressBytes(address, family);
  let lowBitsCleared = false;
  for (let bit = prefix; bit < bits; bit++) {
    const mask = 0x80 >> (bit & 7);
    if (bytes[bit >> 3]! & mask) lowBitsCleared = true;
    bytes[bit >> 3]! &= ~mask;
  }
  return { match: { kind: "cidr", family, bytes, prefix }, lowBitsCleared };
}

/** The bytes of an IPv4 or IPv6 address in text (already checked by isIP). */
export function addressBytes(address: string, family: 4 | 6): Uint8Array {
  if (family === 4) return Uint8Array.from(address.split(".").map(Number));
  let text = address;
  const bytes = new Uint8Array(16);
  // A trailing dotted IPv4 part ("::ffff:1.2.3.4") becomes two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = addressBytes(dotted[1]!, 4);
    text =
      text.slice(0, -dotted[1]!.length) +
      `${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  return bytes;
}
