/**
 * A rewrite script: what the ngx_http_rewrite_module directives of one level
 * (a server, a location) compile to, in the order written. nginx compiles them
 * into one flat code array; wsgate keeps the shape of the text (an `if` holds
 * its body), which the runner walks the same way.
 */

import type { ComplexValue } from "../../vars/complex-value.js";
import type { Setter } from "../../vars/registry.js";
import type { LocationConf } from "../model.js";

export type RewriteFlag = "last" | "break" | "redirect" | "permanent" | undefined;

export type RewriteCode =
  | {
      readonly kind: "return";
      readonly status: number;
      /** The text or URL; undefined for `return CODE;`. */
      readonly text: ComplexValue | undefined;
    }
  | {
      readonly kind: "rewrite";
      readonly regex: RegExp;
      /** The regex as written, for rewrite_log lines. */
      readonly source: string;
      readonly named: NamedCaptures;
      /** The replacement's URI part (before "?"); with a redirect, the whole replacement. */
      readonly uri: ComplexValue;
      /** The replacement's arguments (after its first "?"), when it has one and is no redirect. */
      readonly args: ComplexValue | undefined;
      /** false when the replacement ended in "?": the request's arguments are dropped. */
      readonly addArgs: boolean;
      /** 301/302 for a redirect (flag or a replacement starting with http://, https://, $scheme). */
      readonly redirect: 301 | 302 | undefined;
      /** Stop the script after a match (last, break, redirect, permanent, or a redirect URL). */
      readonly stop: boolean;
      readonly breakCycle: boolean;
    }
  | { readonly kind: "break" }
  | {
      readonly kind: "set";
      readonly index: number;
      readonly name: string;
      readonly value: ComplexValue;
      /** The built-in variable's set handler, when it has one ($limit_rate). */
      readonly setter?: Setter | undefined;
    }
  | {
      readonly kind: "if";
      readonly condition: Condition;
      readonly body: readonly RewriteCode[];
      /** The settings in force when the condition holds (an `if` in a location); none in a server. */
      readonly location: LocationConf | undefined;
    };

export type Condition =
  | { readonly kind: "variable"; readonly value: ComplexValue }
  | { readonly kind: "equal"; readonly negate: boolean; readonly left: ComplexValue; readonly right: ComplexValue }
  | {
      readonly kind: "regex";
      readonly negate: boolean;
      readonly left: ComplexValue;
      readonly regex: RegExp;
      readonly source: string;
      readonly named: NamedCaptures;
    }
  | {
      readonly kind: "file";
      readonly negate: boolean;
      readonly test: "f" | "d" | "e" | "x";
      readonly path: ComplexValue;
    };

/** Named captures of a regex and the variable each one sets on a match: [group, variable index]. */
export type NamedCaptures = ReadonlyArray<readonly [group: string, index: number]>;
