/**
 * A string with variables ("complex value" in nginx), compiled once at load
 * time into literal parts and variable indexes, evaluated per request
 * without re-parsing.
 */

import { ConfigError, type SourcePlace } from "../core/errors.js";
import type { VariableRegistry } from "./registry.js";
import type { VariableSource } from "./source.js";

/** A literal, a variable index, or a regex capture ($1 … $9) written as -n. */
type Part = string | number;

export class ComplexValue {
  private constructor(
    private readonly registry: VariableRegistry,
    private readonly parts: readonly Part[],
    readonly source: string,
  ) {}

  static compile(text: string, registry: VariableRegistry, place?: SourcePlace): ComplexValue {
    return new ComplexValue(registry, parse(text, registry, place), text);
  }

  /** The value when it holds no variable nor capture (the same for every request); else undefined. */
  get constant(): string | undefined {
    const parts = this.parts;
    if (parts.length === 0) return "";
    return parts.length === 1 && typeof parts[0] === "string" ? parts[0] : undefined;
  }

  evaluate(r: VariableSource): string {
    const parts = this.parts;
    if (parts.length === 1 && typeof parts[0] === "string") return parts[0];
    let out = "";
    for (const part of parts) {
      if (typeof part === "string") out += part;
      else if (part >= 0) out += this.registry.value(r, part);
      else out += r.captures?.[-part] ?? "";
    }
    return out;
  }
}

const NAME_CHAR = /[A-Za-z0-9_]/;

function parse(text: string, registry: VariableRegistry, place?: SourcePlace): Part[] {
  const parts: Part[] = [];
  let literal = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch !== "$") {
      literal += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next !== undefined && next >= "0" && next <= "9") {
      if (literal) parts.push(literal);
      literal = "";
      parts.push(-Number(next));
      i += 2;
      continue;
    }
    const { name, end } = readName(text, i + 1, place);
    if (literal) parts.push(literal);
    literal = "";
    parts.push(registry.indexOf(name, place));
    i = end;
  }
  if (literal || parts.length === 0) parts.push(literal);
  return parts;
}

function readName(text: string, start: number, place?: SourcePlace): { name: string; end: number } {
  const braced = text[start] === "{";
  let i = braced ? start + 1 : start;
  const nameStart = i;
  while (i < text.length && NAME_CHAR.test(text[i]!)) i++;
  const name = text.slice(nameStart, i);
  if (braced) {
    if (text[i] !== "}") {
      throw new ConfigError("invalid-value", `the closing bracket in "${name}" variable is missing`, place);
    }
    i++;
  }
  if (name === "") throw new ConfigError("invalid-value", "invalid variable name", place);
  return { name, end: i };
}
