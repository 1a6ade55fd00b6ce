/**
 * log_format, after ngx_http_log_module.c: the format's strings are joined,
 * compiled once, and each variable is printed with the format's escaping.
 * A variable that is "not found" prints as "-" with the default escaping and
 * as nothing with escape=json or escape=none; an empty one prints nothing.
 */

import { ConfigError, type SourcePlace } from "../core/errors.js";
import { ComplexValue } from "../vars/complex-value.js";
import type { VariableRegistry } from "../vars/registry.js";
import type { VariableSource } from "../vars/source.js";

export type LogEscape = "default" | "json" | "none";

type Op = string | number;

export class LogFormat {
  private constructor(
    readonly name: string,
    readonly escape: LogEscape,
    private readonly ops: readonly Op[],
    private readonly registry: VariableRegistry,
  ) {}

  static compile(
    name: string,
    escape: LogEscape,
    text: string,
    registry: VariableRegistry,
    place?: SourcePlace,
  ): LogFormat {
    return new LogFormat(name, escape, compileOps(text, registry, place), registry);
  }

  /** The names of the variables the format prints (lower case). */
  variableNames(): string[] {
    const names = this.registry.usedNames();
    return this.ops.filter((op): op is number => typeof op === "number").map((index) => names[index]!);
  }

  /** The log line for this request, without the trailing newline. */
  render(r: VariableSource): string {
    let line = "";
    for (const op of this.ops) {
      if (typeof op === "string") {
        line += op;
        continue;
      }
      const value = this.registry.lookup(r, op);
      if (value === undefined) line += this.escape === "default" ? "-" : "";
      else line += escapeValue(value, this.escape);
    }
    return line;
  }
}

/** nginx's predefined format. */
export const COMBINED_FORMAT =
  '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"';

export function parseEscape(arg: string, place: SourcePlace): LogEscape | undefined {
  if (!arg.startsWith("escape=")) return undefined;
  const value = arg.slice("escape=".length);
  if (value === "default" || value === "json" || value === "none") return value;
  throw new ConfigError("invalid-value", `unknown log format escaping "${value}"`, place);
}

/** Literal text and variable indexes; reuses the complex-value parser for `$name`/`${name}`. */
function compileOps(text: string, registry: VariableRegistry, place?: SourcePlace): Op[] {
  const ops: Op[] = [];
  let literal = "";
  let i = 0;
  while (i < text.length) {
    const at = text.indexOf("$", i);
    if (at === -1) {
      literal += text.slice(i);
      break;
    }
    literal += text.slice(i, at);
    const match = /^\$(?:\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))/.exec(text.slice(at));
    if (!match) {
      // Let the shared parser produce nginx's message for a bad variable name.
      ComplexValue.compile(text.slice(at), registry, place);
      throw new ConfigError("invalid-value", `invalid parameter "${text.slice(at)}"`, place);
    }
    const name = match[1] ?? match[2]!;
    if (literal) ops.push(literal);
    literal = "";
    ops.push(registry.indexOf(name, place));
    i = at + match[0].length;
  }
  if (literal) ops.push(literal);
  return ops;
}

const HEX = "0123456789ABCDEF";

function escapeValue(value: string, escape: LogEscape): string {
  if (escape === "none") return value;
  // Fast path: nothing to escape (the common case for addresses, times, codes).
  if (!/[\x00-\x1f"\\\x7f-\uffff]/.test(value)) return value;
  return escape === "json" ? escapeJson(value) : escapeDefault(value);
}

/** ngx_http_log_escape(): `"`, `\`, control and non-ASCII bytes as \xXX, byte by byte. */
function escapeDefault(value: string): string {
  let out = "";
  for (const byte of Buffer.from(value, "latin1")) {
    if (byte === 0x22 || byte === 0x5c || byte < 0x20 || byte >= 0x7f) {
      out += "\\x" + HEX[byte >> 4] + HEX[byte & 15];
    } else out += String.fromCharCode(byte);
  }
  return out;
}

/** ngx_escape_json(): JSON string escapes; bytes >= 0x80 pass through. */
function escapeJson(value: string): string {
  let out = "";
  for (const ch of value) {
    const code = ch.charCodeAt(0);
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (code < 0x20) {
      const named = { 8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r" }[code];
      out += named ?? "\\u00" + HEX[code >> 4] + HEX[code & 15];
    } else out += ch;
  }
  return out;
}
