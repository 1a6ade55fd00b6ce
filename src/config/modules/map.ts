/**
 * ngx_http_map_module: `map SOURCE $target { ... }`. The block's lines are
 * key/value pairs, not directives, so the block is read here, not walked.
 */

import { ConfigError } from "../../core/errors.js";
import type { ConfModule } from "../module.js";
import type { DirectiveNode } from "../parser.js";
import { placeOf, type DirectiveSpec } from "../table.js";
import { parseSize, valueError } from "../values.js";
import { compileRegex } from "../regex.js";
import { ComplexValue } from "../../vars/complex-value.js";
import { lookupMap, type MapTable } from "../../vars/map.js";
import type { VariableRegistry } from "../../vars/registry.js";

const MAP_DIRECTIVES: readonly DirectiveSpec[] = [
  {
    name: "map",
    contexts: ["http"],
    args: [2],
    block: true,
    handle: (scope, node) => {
      const http = scope.http!;
      const [source, target] = node.args as [string, string];
      if (!target.startsWith("$")) throw valueError(node, `invalid variable name "${target}"`);
      const name = target.slice(1).toLowerCase();
      if (http.registry.isDefined(name) && !http.mapTargets.has(name)) {
        throw valueError(node, `the duplicate "${name}" variable`);
      }
      const table = readMapBlock(node, http.registry, ComplexValue.compile(source, http.registry, placeOf(node)));
      http.mapTargets.add(name);
      http.registry.define(name, (r) => lookupMap(table, r), table.cacheable);
      // ngx_http_map_block() adds its variable NGX_HTTP_VAR_CHANGEABLE: `set` may give it a value.
      http.registry.markChangeable(name);
    },
  },
  ...["map_hash_max_size", "map_hash_bucket_size"].map((name): DirectiveSpec => ({
    name,
    contexts: ["http"],
    args: [1],
    handle: (_scope, node) => void parseSize(node, node.args[0]!),
  })),
];

/** Maps define variables (HttpBuild.registry); no level of LocConf or SrvConf. */
export const MAP_MODULE: ConfModule = { name: "ngx_http_map_module", directives: MAP_DIRECTIVES };

interface MapBuild extends MapTable {
  cacheable: boolean;
}

function readMapBlock(node: DirectiveNode, registry: VariableRegistry, source: ComplexValue): MapBuild {
  const exact = new Map<string, ComplexValue>();
  const table = {
    source,
    exact,
    leadingWildcards: [] as Array<[string, ComplexValue, boolean]>,
    trailingWildcards: [] as Array<[string, ComplexValue]>,
    regexes: [] as Array<{ regex: RegExp; value: ComplexValue }>,
    defaultValue: undefined as ComplexValue | undefined,
    hostnames: false,
    cacheable: true,
  };
  for (const line of node.block!) {
    if (line.error) throw line.error;
    if (line.block) throw valueError(line, `unexpected "{"`);
    if (line.args.length === 0 && line.name === "hostnames") table.hostnames = true;
    else if (line.args.length === 0 && line.name === "volatile") table.cacheable = false;
    else if (line.args.length !== 1) throw valueError(line, "invalid number of the map parameters");
    else addEntry(table, line, registry);
  }
  return table;
}

function addEntry(
  table: MapBuild & { exact: Map<string, ComplexValue> },
  line: DirectiveNode,
  registry: VariableRegistry,
): void {
  let key = line.name;
  const value = ComplexValue.compile(line.args[0]!, registry, placeOf(line));
  if (key === "default") {
    if (table.defaultValue) throw valueError(line, "duplicate default map parameter");
    (table as { defaultValue?: ComplexValue }).defaultValue = value;
    return;
  }
  if (key.startsWith("~")) {
    const caseless = key.startsWith("~*");
    const regex = compileRegex(line, key.slice(caseless ? 2 : 1), caseless, registry);
    (table.regexes as Array<{ regex: RegExp; value: ComplexValue }>).push({ regex, value });
    return;
  }
  if (key.startsWith("\\")) key = key.slice(1);
  key = key.toLowerCase();
  if (table.hostnames && addWildcard(table, key, value)) return;
  if (table.exact.has(key)) throw conflicting(line, key);
  table.exact.set(key, value);
}

function addWildcard(table: MapBuild, key: string, value: ComplexValue): boolean {
  if (key.startsWith("*.")) {
    (table.leadingWildcards as Array<[string, ComplexValue, boolean]>).push([key.slice(1), value, false]);
    return true;
  }
  if (key.startsWith(".")) {
    (table.leadingWildcards as Array<[string, ComplexValue, boolean]>).push([key, value, true]);
    return true;
  }
  if (key.endsWith(".*")) {
    (table.trailingWildcards as Array<[string, ComplexValue]>).push([key.slice(0, -1), value]);
    return true;
  }
  return false;
}

function conflicting(line: DirectiveNode, key: string): ConfigError {
  return valueError(line, `conflicting parameter "${key}"`);
}
