/**
 * The variable table, after ngx_http_variables.c: every variable a
 * configuration may name gets an index at load time; requests keep a cache
 * array indexed by it, so evaluation never looks a name up.
 *
 * Names are resolved in two steps, as in nginx: a use anywhere in the file
 * takes an index at once (a `map` may be defined after its first use), and
 * link() binds every index to its getter at the end, failing on unknown names
 * with nginx's `unknown "name" variable`.
 */

import { ConfigError, type SourcePlace } from "../core/errors.js";
import type { VariableSource } from "./source.js";

/** A getter answers the value, or undefined for nginx's "not found" (which prints as ""). */
export type Getter = (r: VariableSource) => string | undefined;

/** A changeable variable's set_handler (`set $limit_rate …`): an error line for a value it refuses. */
export type Setter = (r: VariableSource, value: string) => string | undefined;

export interface VariableDefinition {
  readonly get: Getter;
  /** false for values that change during a request ($status, $request_time, volatile maps). */
  readonly cacheable: boolean;
  /** `set` may store a value for the request, which then holds even where the variable is not cacheable. */
  readonly changeable?: boolean;
}

interface Slot {
  readonly name: string;
  definition?: VariableDefinition;
  firstUse?: SourcePlace;
}

export class VariableRegistry {
  private readonly slots: Slot[] = [];
  private readonly byName = new Map<string, number>();
  private readonly definitions = new Map<string, VariableDefinition>();
  private readonly setters = new Map<string, Setter>();
  private readonly prefixes: Array<{ prefix: string; make: (suffix: string) => VariableDefinition }> = [];
  private linked: ReadonlyArray<VariableDefinition> = [];

  /** A variable with a fixed name ($remote_addr, a map's target, a `set` target). */
  define(name: string, get: Getter, cacheable = true): void {
    this.definitions.set(name.toLowerCase(), { get, cacheable });
  }

  /** A built-in variable `set` may change through its own handler (NGX_HTTP_VAR_CHANGEABLE with a set_handler). */
  defineSetter(name: string, set: Setter): void {
    this.setters.set(name.toLowerCase(), set);
  }

  setterOf(name: string): Setter | undefined {
    return this.setters.get(name.toLowerCase());
  }

  /** NGX_HTTP_VAR_CHANGEABLE without a set handler (a `map`'s target): `set` stores into the request's value. */
  markChangeable(name: string): void {
    const key = name.toLowerCase();
    const definition = this.definitions.get(key);
    if (definition) this.definitions.set(key, { ...definition, changeable: true });
  }

  isChangeable(name: string): boolean {
    return this.definitions.get(name.toLowerCase())?.changeable === true;
  }

  isDefined(name: string): boolean {
    return this.definitions.has(name.toLowerCase());
  }

  /** A family such as $http_NAME: the getter is made from the part after the prefix. */
  definePrefix(prefix: string, make: (suffix: string) => VariableDefinition): void {
    this.prefixes.push({ prefix, make });
  }

  /** The index a use of `$name` reads at run time. Names are case-insensitive, as in nginx. */
  indexOf(name: string, place?: SourcePlace): number {
    const key = name.toLowerCase();
    let index = this.byName.get(key);
    if (index === undefined) {
      index = this.slots.length;
      this.slots.push({ name: key, ...(place ? { firstUse: place } : {}) });
      this.byName.set(key, index);
    }
    return index;
  }

  /** Every variable name the configuration uses. */
  usedNames(): string[] {
    return this.slots.map((slot) => slot.name);
  }

  /** Does the configuration use any variable of this family ($sent_http_…)? */
  usesPrefix(prefix: string): boolean {
    return this.slots.some((slot) => slot.name.startsWith(prefix));
  }

  /** Bind every used name to its definition; throws on the first unknown one. */
  link(): void {
    const linked: VariableDefinition[] = [];
    for (const slot of this.slots) {
      const definition = this.definitions.get(slot.name) ?? this.fromPrefix(slot.name);
      if (!definition) {
        // nginx reports this after reading the whole file, without a place.
        throw new ConfigError("invalid-value", `unknown "${slot.name}" variable`);
      }
      slot.definition = definition;
      linked.push(definition);
    }
    this.linked = linked;
  }

  /** The value of variable `index` for this request ("" when not found). */
  value(r: VariableSource, index: number): string {
    return this.lookup(r, index) ?? "";
  }

  /** Like value(), but tells "not found" (undefined) apart from "": access logs print "-" for it. */
  lookup(r: VariableSource, index: number): string | undefined {
    const definition = this.linked[index]!;
    const cache = r.variableCache;
    const cached = cache[index];
    // A value `set` stored holds (ngx_http_script_set_var_code clears no_cacheable); else a volatile one is read anew.
    if (!definition.cacheable)
      return definition.changeable === true && cached !== undefined ? (cached ?? undefined) : definition.get(r);
    if (cached !== undefined) return cached ?? undefined;
    const value = definition.get(r);
    cache[index] = value ?? null;
    return value;
  }

  private fromPrefix(name: string): VariableDefinition | undefined {
    for (const { prefix, make } of this.prefixes) {
      if (name.startsWith(prefix) && name.length > prefix.length) return make(name.slice(prefix.length));
    }
    return undefined;
  }
}
